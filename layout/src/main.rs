//! `ganeti-layout`: thin command line over the `ganeti_layout` library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use ganeti_layout::cli::{
    exit_code, input, report_error, require_root, Output, PathArgs, Stderr, Stdout, Work,
};
use ganeti_layout::command::{AdoptArgs, Cli, Command, DirVersionArg, InstallArgs};
use ganeti_layout::install::{adopt, apply, demo, inspect, plan, spec::Spec, stage::Stage};
use ganeti_layout::node::durable;
use ganeti_layout::node::installed;
use ganeti_layout::node::paths::shell_word;
use ganeti_layout::node::{DirStyle, DirVersion, InstallPaths, Release};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let work = match cli.command {
        Command::Plan(_) | Command::Verify { .. } | Command::List(_) => Work::Prints,
        Command::Adopt(ref a) if a.dry_run => Work::Prints,
        Command::Install(_) | Command::Remove { .. } | Command::Demo { .. } | Command::Adopt(_) => {
            Work::Changes
        }
    };
    let (out, err) = (Stdout::default(), Stderr::default());
    let code = match run(cli, &out) {
        Ok(code) => code,
        Err(e) => {
            report_error("ganeti-layout", &e);
            if ganeti_layout::cli::is_input(&e) {
                2
            } else {
                1
            }
        }
    };
    ExitCode::from(exit_code("ganeti-layout", code, work, &out, &err))
}

fn run(cli: Cli, out: &Stdout) -> anyhow::Result<u8> {
    // install and plan may lay out into a DESTDIR that does not exist yet;
    // the demo has a directory of its own.
    if !matches!(
        cli.command,
        Command::Install(_) | Command::Plan(_) | Command::Demo { .. }
    ) {
        require_root(&cli.paths.resolve(&cli.root.root).map_err(input)?)?;
    }
    match cli.command {
        Command::Install(args) => install(&cli.paths, &cli.root.root, &args, true, out),
        Command::Plan(args) => install(&cli.paths, &cli.root.root, &args, false, out),
        Command::Verify { json } => {
            let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
            let problems = inspect::verify(&paths)?;
            if json {
                out.line(
                    &serde_json::json!({ "format": 1, "sound": problems.is_empty(), "problems": problems })
                        .to_string(),
                );
            } else if problems.is_empty() {
                out.line(&format!("{}: layout is sound", paths.root().display()));
            } else {
                for p in &problems {
                    out.line(p);
                }
            }
            Ok(u8::from(!problems.is_empty()))
        }
        Command::List(args) => {
            let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
            let versions = installed::list(&paths)?;
            if args.json {
                out.text(&serde_json::to_string_pretty(&installed::list_json(
                    &versions,
                ))?);
            } else {
                out.text(&installed::render_list(&versions, !args.no_headers, &paths));
            }
            Ok(0)
        }
        Command::Remove {
            version,
            old_version,
        } => {
            let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
            // clap requires one of the two (required_unless_present).
            let version = version.or(old_version).unwrap_or_default();
            let v: DirVersion = version.parse().map_err(input)?;
            let removed = apply::remove_version(&paths, &v)?;
            for p in &removed.paths {
                out.line(&format!("removed {}", p.display()));
            }
            // Without the version, its adoption cannot be undone: the record
            // says so durably (a crash before this leaves a record naming a
            // missing version, which adopt reads as retired too).
            if let Some(backup) = &adopt::retire(&paths, &v)? {
                out.line(&format!(
                    "version {v} was the adopted flat install, so the adoption can no longer be undone (adopt --undo has nothing to take back); its record is retired. The flat files stay in {}: delete that directory by hand once you no longer need it",
                    backup.display()
                ));
            }
            Ok(0)
        }
        // --root is global (one vocabulary); the demo has its own place.
        Command::Demo { .. } if cli.root.root != Path::new("/") => {
            let own = cli.paths.resolve(Path::new("/")).map_err(input)?;
            Err(input(format!(
                "the demo lays its trees out in a directory of its own: {}",
                own.tool(
                    "ganeti-layout",
                    &format!("demo --dir {}", shell_word(&cli.root.root))
                )
            ))
            .into())
        }
        Command::Demo { dir } => run_demo(&cli.paths, dir, out),
        Command::Adopt(args) => {
            let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
            run_adopt(&paths, &args, out)
        }
    }
}

/// `adopt`, `adopt --dry-run`, `adopt --undo`.
fn run_adopt(paths: &InstallPaths, args: &AdoptArgs, out: &Stdout) -> anyhow::Result<u8> {
    // An error of the node's state is exit 1, the release that cannot be
    // told is the caller's to give (exit 2).
    let fail = |e: adopt::AdoptError| -> anyhow::Error {
        if e.is_input() {
            input(e).into()
        } else {
            e.into()
        }
    };
    if args.undo && args.dry_run {
        out.text(&adopt::render_undo(paths).map_err(fail)?);
        return Ok(0);
    }
    if args.undo {
        adopt::refuse_if_daemons_run(paths, args.daemons_running_ok).map_err(fail)?;
        let report = adopt::undo(paths).map_err(fail)?;
        out.line(&format!(
            "undone: the flat Ganeti {} is back in place under {} ({} file(s) moved back from {}); version {} and its links are removed",
            report.release,
            paths.root().display(),
            report.moved,
            report.backup.display(),
            report.dir_version
        ));
        if report.backup_kept {
            Stderr::default().line(&format!(
                "warning: {} holds files that were not the adoption's; it is kept",
                report.backup.display()
            ));
        }
        return Ok(0);
    }
    let spec = Spec::builtin_with_file(args.spec.as_deref()).map_err(input)?;
    if let Some(record) = adopt::read_record(paths).map_err(fail)? {
        if let Some(e) = adopt::retired(paths, &record).map_err(fail)? {
            return Err(fail(e));
        }
        if args.dry_run {
            out.line(&format!(
                "an adoption is recorded (state {}) in {}: adopt finishes it, adopt --undo takes it back",
                record.state,
                paths.fs().shown(&paths.adopt_record()).display()
            ));
            return Ok(0);
        }
        if matches!(
            record.state,
            adopt::AdoptState::Moving | adopt::AdoptState::Undoing
        ) {
            adopt::refuse_if_daemons_run(paths, args.daemons_running_ok).map_err(fail)?;
        }
        let report = adopt::resume(paths, &spec, record).map_err(fail)?;
        print_adopted(paths, &report, out);
        return Ok(0);
    }
    // The backup's name: this run's second.
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let adoption = adopt::plan_adoption(paths, &spec, epoch).map_err(fail)?;
    if args.dry_run {
        out.text(&adopt::render_text(paths, &adoption));
        return Ok(0);
    }
    adopt::refuse_if_daemons_run(paths, args.daemons_running_ok).map_err(fail)?;
    let err = Stderr::default();
    for w in &adoption.install.warnings {
        err.line(&format!("warning: {w}"));
    }
    let report = adopt::adopt(paths, &spec, &adoption).map_err(fail)?;
    print_adopted(paths, &report, out);
    Ok(0)
}

fn print_adopted(paths: &InstallPaths, report: &adopt::Report, out: &Stdout) {
    if report.already {
        out.line(&format!(
            "already adopted: Ganeti {} is version {} in the versioned layout under {}; the flat files are in {} ({} takes it back)",
            report.release,
            report.dir_version,
            paths.root().display(),
            report.backup.display(),
            paths.tool("ganeti-layout", "adopt --undo")
        ));
    } else {
        out.line(&format!(
            "adopted: the flat Ganeti {} is version {} (active) under {}; {} flat file(s) moved to {} ({} takes it back)",
            report.release,
            report.dir_version,
            paths.root().display(),
            report.moved,
            report.backup.display(),
            paths.tool("ganeti-layout", "adopt --undo")
        ));
    }
}

fn install(
    paths: &PathArgs,
    root: &Path,
    args: &InstallArgs,
    apply_it: bool,
    out: &Stdout,
) -> anyhow::Result<u8> {
    let err = Stderr::default();
    let paths: InstallPaths = paths.resolve(root).map_err(input)?;
    let spec = Spec::builtin_with_file(args.spec.as_deref()).map_err(input)?;
    let stage = Stage::scan(&args.stage, &paths).map_err(input)?;
    let release = stage.release(args.release.as_deref()).map_err(input)?;
    let style = match args.dir_version {
        DirVersionArg::Short => DirStyle::Short,
        DirVersionArg::Full => DirStyle::Full,
    };
    let req = plan::Request {
        stage: &stage,
        spec: &spec,
        paths: &paths,
        release,
        style,
        activate: args.activate,
        keep_existing: args.keep_existing,
    };
    let plan = match ganeti_layout::install::plan_install(&req) {
        Ok(p) => p,
        Err(conflicts) => {
            // A flat Ganeti's own files are every farm link's conflict:
            // one line that names adopt, not a hundred "move it away".
            let flat =
                installed::flat_install(&paths).map(|f| installed::flat_install_line(&paths, &f));
            if args.json {
                out.line(
                    &serde_json::json!({ "format": 1, "result": "conflicts", "conflicts": conflicts, "flat": flat })
                        .to_string(),
                );
            }
            if let Some(line) = flat {
                err.line(&format!(
                    "ganeti-layout: error: {line}\nnothing was changed ({} conflict(s) with the flat install's files)",
                    conflicts.len()
                ));
                return Ok(1);
            }
            for c in &conflicts {
                err.line(&format!("conflict: {c}"));
            }
            err.line(&format!(
                "ganeti-layout: {} conflict(s); nothing was changed",
                conflicts.len()
            ));
            return Ok(1);
        }
    };
    if !apply_it {
        if args.json {
            out.text(&serde_json::to_string_pretty(&with_format(
                serde_json::to_value(&plan)?,
            ))?);
        } else {
            out.text(&plan::render_text(&plan));
        }
        return Ok(0);
    }
    for w in &plan.warnings {
        err.line(&format!("warning: {w}"));
    }
    let report = apply::apply(&plan, &paths, &stage).with_context(|| {
        format!(
            "installing {} into {}",
            plan.dir_version,
            paths.root().display()
        )
    })?;
    if args.json {
        let mut doc = with_format(serde_json::to_value(&report)?);
        if let Some(map) = doc.as_object_mut() {
            map.insert("result".into(), "installed".into());
            map.insert("release".into(), plan.release.to_string().into());
            map.insert("dir_version".into(), plan.dir_version.to_string().into());
            map.insert("root".into(), paths.root().display().to_string().into());
        }
        out.text(&serde_json::to_string_pretty(&doc)?);
    } else {
        out.line(&format!(
            "installed Ganeti {} as {} under {}: {} changed, {} already in place",
            plan.release,
            plan.dir_version,
            paths.root().display(),
            report.changed,
            report.kept
        ));
    }
    Ok(0)
}

/// A JSON document with `"format": 1`, as every document of the toolkit.
fn with_format(mut doc: serde_json::Value) -> serde_json::Value {
    if let Some(map) = doc.as_object_mut() {
        map.insert("format".into(), 1.into());
    }
    doc
}

fn run_demo(path_args: &PathArgs, dir: Option<PathBuf>, out: &Stdout) -> anyhow::Result<u8> {
    let base = match dir {
        Some(d) => {
            durable::create_dir_all(&d)?;
            d
        }
        None => new_demo_dir()?,
    };
    let dest = base.join("root");
    out.line(&format!(
        "== Demo: two Ganeti builds laid out side by side under {}",
        dest.display()
    ));
    for (release, activate) in [("3.0.2", true), ("3.1.0", false)] {
        let release: Release = release.parse().map_err(input)?;
        let stage_dir = base.join(format!("stage-{release}"));
        if !stage_dir.exists() {
            demo::write_stage(
                &stage_dir,
                &release,
                &path_args.resolve(Path::new("/")).map_err(input)?,
            )
            .with_context(|| format!("writing demo stage {}", stage_dir.display()))?;
        }
        let args = InstallArgs {
            stage: stage_dir,
            release: Some(release.to_string()),
            dir_version: DirVersionArg::Short,
            activate,
            keep_existing: false,
            spec: None,
            json: false,
        };
        out.line("");
        out.line(&format!(
            "$ {}",
            path_args.resolve(&dest).map_err(input)?.tool(
                "ganeti-layout",
                &format!(
                    "install --stage {} --release {release}{}",
                    shell_word(&args.stage),
                    if activate { " --activate" } else { "" }
                )
            )
        ));
        let code = install(path_args, &dest, &args, true, out)?;
        if code != 0 {
            return Ok(code);
        }
    }
    let paths = path_args.resolve(&dest).map_err(input)?;
    out.line("");
    out.line("== The resulting tree (links shown with their targets)");
    print_tree(&paths, out)?;
    out.line("");
    out.line(&format!("$ {}", paths.tool("ganeti-layout", "list")));
    out.text(&installed::render_list(
        &installed::list(&paths)?,
        true,
        &paths,
    ));
    out.line("");
    out.line(&format!("$ {}", paths.tool("ganeti-layout", "verify")));
    let problems = inspect::verify(&paths)?;
    if problems.is_empty() {
        out.line("layout is sound");
    }
    for p in &problems {
        out.line(p);
    }
    out.line("");
    out.line(&format!(
        "The demo is kept in {}; remove it with: rm -r {}",
        base.display(),
        shell_word(&base)
    ));
    Ok(u8::from(!problems.is_empty()))
}

/// A new directory `ganeti-layout-demo.*` (mode 0700) in the system's
/// temporary directory, kept after the demo ends.
fn new_demo_dir() -> anyhow::Result<PathBuf> {
    let tmp = std::env::temp_dir();
    for _ in 0..100 {
        // `temp_sibling` names it uniquely (pid, counter, time).
        let name = durable::temp_sibling(Path::new("d"));
        let suffix = name
            .to_string_lossy()
            .trim_start_matches(".d.tmp-")
            .to_string();
        let dir = tmp.join(format!("ganeti-layout-demo.{suffix}"));
        match durable::create_dir(&dir) {
            Ok(()) => {
                durable::set_mode(&dir, 0o700)?;
                return Ok(dir);
            }
            Err(e) if e.already_exists() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("cannot create a demo directory in {}", tmp.display())
}

/// Prints the interesting parts of the laid-out tree, four levels deep,
/// by logical path, links with their targets.
fn print_tree(paths: &InstallPaths, out: &Stdout) -> anyhow::Result<()> {
    let fs = paths.fs();
    let interesting = [
        paths.confdir(),
        paths.pkglibdir(),
        paths.sharedir(),
        paths.sbindir(),
        paths.bindir(),
        paths.man_section(8),
    ];
    for top in interesting {
        let Ok(meta) = fs.metadata(&top) else {
            continue;
        };
        print_entry(paths, &top, meta.file_type(), 0, out)?;
    }
    Ok(())
}

fn print_entry(
    paths: &InstallPaths,
    logical: &Path,
    file_type: std::fs::FileType,
    depth: usize,
    out: &Stdout,
) -> anyhow::Result<()> {
    let fs = paths.fs();
    if logical.to_string_lossy().ends_with(".lock") {
        return Ok(());
    }
    // Keep the printout readable: the Python package and man pages inside
    // the trees are summarised by their directories.
    let rel = logical.strip_prefix("/").unwrap_or(logical);
    if depth >= 3
        && rel
            .components()
            .any(|c| c.as_os_str() == "ganeti" || c.as_os_str() == "root")
        && file_type.is_file()
    {
        return Ok(());
    }
    let indent = "  ".repeat(depth);
    if file_type.is_symlink() {
        let target = fs.read_link(logical)?;
        out.line(&format!(
            "{indent}/{} -> {}",
            rel.display(),
            target.display()
        ));
    } else if file_type.is_dir() {
        out.line(&format!("{indent}/{}/", rel.display()));
        if depth < 4 {
            for entry in fs.read_dir(logical)? {
                if let Some(t) = entry.file_type {
                    print_entry(paths, &logical.join(&entry.name), t, depth + 1, out)?;
                }
            }
        }
    } else {
        out.line(&format!("{indent}/{}", rel.display()));
    }
    Ok(())
}
