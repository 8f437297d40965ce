//! `ganeti-layout`: thin command line over the `ganeti_layout` library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use ganeti_layout::cli::{input, report_error, PathArgs};
use ganeti_layout::command::{Cli, Command, DirVersionArg, InstallArgs};
use ganeti_layout::paths::shell_word;
use ganeti_layout::{
    apply, demo, inspect, plan, spec::Spec, stage::Stage, DirStyle, DirVersion, InstallPaths,
    Release,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            report_error("ganeti-layout", &err);
            if ganeti_layout::cli::is_input(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Install(args) => install(&cli.paths, &cli.root.root, &args, true),
        Command::Plan(args) => install(&cli.paths, &cli.root.root, &args, false),
        Command::Verify { json } => {
            let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
            let problems = inspect::verify(&paths)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "format": 1, "sound": problems.is_empty(), "problems": problems })
                );
            } else if problems.is_empty() {
                println!("{}: layout is sound", paths.root().display());
            } else {
                for p in &problems {
                    println!("{p}");
                }
            }
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::List(args) => {
            let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
            let versions = inspect::list(&paths)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&inspect::list_json(&versions))?
                );
            } else {
                print!(
                    "{}",
                    inspect::render_list(&versions, !args.no_headers, &paths)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Remove {
            version,
            old_version,
        } => {
            let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
            // clap requires one of the two (required_unless_present).
            let version = version.or(old_version).unwrap_or_default();
            let v: DirVersion = version.parse().map_err(input)?;
            for p in inspect::remove(&paths, &v)? {
                println!("removed {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
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
        Command::Demo { dir } => run_demo(&cli.paths, dir),
    }
}

fn install(
    paths: &PathArgs,
    root: &Path,
    args: &InstallArgs,
    apply_it: bool,
) -> anyhow::Result<ExitCode> {
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
    let plan = match ganeti_layout::plan_install(&req) {
        Ok(p) => p,
        Err(conflicts) => {
            if args.json {
                println!("{}", serde_json::json!({ "conflicts": conflicts }));
            }
            for c in &conflicts {
                eprintln!("conflict: {c}");
            }
            eprintln!(
                "ganeti-layout: {} conflict(s); nothing was changed",
                conflicts.len()
            );
            return Ok(ExitCode::from(1));
        }
    };
    if !apply_it {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print!("{}", plan::render_text(&plan));
        }
        return Ok(ExitCode::SUCCESS);
    }
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let report = apply::apply(&plan, &paths, &stage).with_context(|| {
        format!(
            "installing {} into {}",
            plan.dir_version,
            paths.root().display()
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "installed Ganeti {} as {} under {}: {} changed, {} already in place",
            plan.release,
            plan.dir_version,
            paths.root().display(),
            report.changed,
            report.kept
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_demo(path_args: &PathArgs, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let _keep;
    let base = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("ganeti-layout-demo.")
                .tempdir()?;
            let p = t.path().to_path_buf();
            _keep = t.keep();
            p
        }
    };
    let dest = base.join("root");
    println!(
        "== Demo: two Ganeti builds laid out side by side under {}",
        dest.display()
    );
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
        println!(
            "\n$ {}",
            path_args.resolve(&dest).map_err(input)?.tool(
                "ganeti-layout",
                &format!(
                    "install --stage {} --release {release}{}",
                    shell_word(&args.stage),
                    if activate { " --activate" } else { "" }
                )
            )
        );
        let code = install(path_args, &dest, &args, true)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    let paths = path_args.resolve(&dest).map_err(input)?;
    println!("\n== The resulting tree (links shown with their targets)");
    print_tree(&dest, &paths)?;
    println!("\n$ {}", paths.tool("ganeti-layout", "list"));
    print!(
        "{}",
        inspect::render_list(&inspect::list(&paths)?, true, &paths)
    );
    println!("\n$ {}", paths.tool("ganeti-layout", "verify"));
    let problems = inspect::verify(&paths)?;
    if problems.is_empty() {
        println!("layout is sound");
    }
    for p in &problems {
        println!("{p}");
    }
    println!(
        "\nThe demo is kept in {}; remove it with: rm -r {}",
        base.display(),
        shell_word(&base)
    );
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_tree(dest: &Path, paths: &InstallPaths) -> anyhow::Result<()> {
    let interesting = [
        paths.confdir(),
        paths.pkglibdir(),
        paths.sharedir(),
        paths.sbindir(),
        paths.bindir(),
        paths.mandir().join("man8"),
    ];
    for top in interesting {
        let host = paths.host(&top);
        if !host.exists() {
            continue;
        }
        for entry in walkdir::WalkDir::new(&host)
            .sort_by_file_name()
            .max_depth(4)
        {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(".lock") {
                continue;
            }
            let rel = entry.path().strip_prefix(dest).unwrap_or(entry.path());
            let depth = entry.depth();
            // Keep the printout readable: the Python package and man pages
            // inside the trees are summarised by their directories.
            if depth >= 3
                && rel
                    .components()
                    .any(|c| c.as_os_str() == "ganeti" || c.as_os_str() == "root")
                && entry.file_type().is_file()
            {
                continue;
            }
            let indent = "  ".repeat(depth);
            if entry.file_type().is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                println!("{indent}/{} -> {}", rel.display(), target.display());
            } else if entry.file_type().is_dir() {
                println!("{indent}/{}/", rel.display());
            } else {
                println!("{indent}/{}", rel.display());
            }
        }
    }
    Ok(())
}
