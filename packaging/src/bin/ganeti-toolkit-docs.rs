//! `ganeti-toolkit-docs OUTDIR`: writes the man pages (OUTDIR/man/) and bash
//! completions (OUTDIR/completions/) of every binary of the toolkit, from
//! their clap definitions. Run at package build time by debian/rules; not
//! installed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ganeti_layout::cli::report_error;
use ganeti_packaging::docs::{self, Generated};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [out] = args.as_slice() else {
        eprintln!("usage: ganeti-toolkit-docs OUTDIR");
        return ExitCode::from(2);
    };
    match run(out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report_error("ganeti-toolkit-docs", &err);
            ExitCode::from(1)
        }
    }
}

fn write_all(dir: &Path, files: &[Generated]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for f in files {
        let path = dir.join(&f.file_name);
        std::fs::write(&path, &f.bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn run(out: &Path) -> anyhow::Result<()> {
    let man_dir = out.join("man");
    let completion_dir = out.join("completions");
    for cmd in [
        ganeti_layout::command::command(),
        ganeti_switch::command::command(),
        ganeti_packaging::cli::command(),
        ganeti_upgrade::command::command(),
    ] {
        let name = cmd.get_name().to_string();
        let pages = docs::man_pages(cmd.clone())
            .with_context(|| format!("rendering the man pages of {name}"))?;
        write_all(&man_dir, &pages)?;
        write_all(&completion_dir, &[docs::bash_completion(cmd)])?;
    }
    Ok(())
}
