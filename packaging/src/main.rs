//! `ganeti-packaging`: thin command line over the `ganeti_packaging` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ganeti_layout::cli::{
    exit_code, input, report_error, require_root, Output, Stderr, Stdout, Work,
};
use ganeti_layout::command::DirVersionArg;
use ganeti_layout::node::{DirStyle, DirVersion, InstallPaths};
use ganeti_packaging::cli::{
    Cli, Command, DebianInstallArgs, PostinstAction, PostrmAction, PrermAction,
};
use ganeti_packaging::{debian, env, maint};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let work = match cli.command {
        Command::Snippet { .. } => Work::Prints,
        _ => Work::Changes,
    };
    let (out, err) = (Stdout::default(), Stderr::default());
    let code = match run(cli, &out) {
        Ok(()) => 0,
        Err(e) => {
            report_error("ganeti-packaging", &e);
            let usage = ganeti_layout::cli::is_input(&e)
                || e.downcast_ref::<debian::DebianError>()
                    .is_some_and(|e| e.is_input());
            if usage {
                2
            } else {
                1
            }
        }
    };
    ExitCode::from(exit_code("ganeti-packaging", code, work, &out, &err))
}

fn say(out: &Stdout, what: impl std::fmt::Display) {
    out.line(&format!("ganeti-packaging: {what}"));
}

fn node_paths(cli: &Cli) -> anyhow::Result<InstallPaths> {
    let root = cli
        .root
        .clone()
        .or_else(env::dpkg_root)
        .unwrap_or_else(|| PathBuf::from("/"));
    let paths = cli.paths.resolve(&root).map_err(input)?;
    require_root(&paths)?;
    Ok(paths)
}

fn version(text: &str) -> anyhow::Result<DirVersion> {
    Ok(text.parse().map_err(input)?)
}

fn run(cli: Cli, out: &Stdout) -> anyhow::Result<()> {
    match &cli.command {
        Command::Postinst { action, version: v } => {
            let v = version(v)?;
            if *action != PostinstAction::Configure {
                return Ok(());
            }
            let paths = node_paths(&cli)?;
            let report = maint::postinst_configure(&paths, &v)?;
            for note in &report.notes {
                say(out, note);
            }
            say(out, &report.outcome);
        }
        Command::Prerm { action, version: v } => {
            let v = version(v)?;
            if *action != PrermAction::Remove {
                return Ok(());
            }
            let paths = node_paths(&cli)?;
            say(out, maint::prerm_remove(&paths, &v)?);
        }
        Command::Postrm { action } => {
            let purge = match action {
                PostrmAction::Remove => false,
                PostrmAction::Purge => true,
                _ => return Ok(()),
            };
            let paths = node_paths(&cli)?;
            let report = maint::postrm(&paths, purge)?;
            for note in &report.notes {
                say(out, note);
            }
            say(out, &report.outcome);
        }
        Command::Snippet { script, version: v } => {
            out.text(&script.render(&version(v)?));
        }
        Command::DebianInstall(args) => debian_install(&cli, args, out)?,
    }
    Ok(())
}

fn debian_install(cli: &Cli, args: &DebianInstallArgs, out: &Stdout) -> anyhow::Result<()> {
    let paths = cli.paths.resolve(&args.destdir).map_err(input)?;
    let split = match (&args.farm_package, &args.trees_package) {
        (Some(farm), Some(trees)) => Some(debian::Split {
            debian_dir: args.debian_dir.clone(),
            farm: farm.parse().map_err(input)?,
            trees: trees.parse().map_err(input)?,
        }),
        _ => None,
    };
    let style = match args.dir_version {
        DirVersionArg::Short => DirStyle::Short,
        DirVersionArg::Full => DirStyle::Full,
    };
    let installed = debian::install(&debian::Request {
        stage: &args.stage,
        release: args.release.as_deref(),
        paths: &paths,
        style,
        spec: args.spec.as_deref(),
        split,
    })?;
    let dv = installed
        .dir_version
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default();
    let release = installed
        .release
        .as_ref()
        .map(|r| r.to_string())
        .unwrap_or_default();
    match (&installed.farm_dir, &installed.trees_dir) {
        (Some(farm), Some(trees)) => say(
            out,
            format!(
                "laid out {} as {dv}: trees in {}, farm ({} entries) in {}",
                release,
                trees.display(),
                installed.farm.len(),
                farm.display()
            ),
        ),
        _ => say(
            out,
            format!(
                "laid out {} as {dv} in {}: {} trees, {} farm entries",
                release,
                paths.root().display(),
                installed.trees.len(),
                installed.farm.len()
            ),
        ),
    }
    Ok(())
}
