//! `ganeti-toolkit-docs OUTDIR`: writes the man pages (OUTDIR/man/) and bash
//! completions (OUTDIR/completions/) of every binary of the toolkit, from
//! their clap definitions. Run at package build time by debian/rules; not
//! installed. The pages are dated by `SOURCE_DATE_EPOCH` (dpkg-buildpackage
//! sets it from debian/changelog), else by the current time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ganeti_layout::cli::report_error;
use ganeti_packaging::docs::{self, Generated};
use ganeti_packaging::env;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    const USAGE: &str = "usage: ganeti-toolkit-docs OUTDIR\n\
        writes the man pages (OUTDIR/man) and shell completions (OUTDIR/completions) of the toolkit";
    let [out] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    // An option is never an output directory (`--help` made one before).
    if out.to_string_lossy().starts_with('-') {
        let help = matches!(out.to_str(), Some("--help" | "-h"));
        if help {
            println!("{USAGE}");
        } else {
            eprintln!("{USAGE}");
        }
        return ExitCode::from(if help { 0 } else { 2 });
    }
    match run(out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report_error("ganeti-toolkit-docs", &err);
            ExitCode::from(1)
        }
    }
}

fn write_all(dir: &Path, files: &[Generated]) -> anyhow::Result<()> {
    // fs_err's errors name the path.
    fs_err::create_dir_all(dir)?;
    for f in files {
        fs_err::write(dir.join(&f.file_name), &f.bytes)?;
    }
    Ok(())
}

fn run(out: &Path) -> anyhow::Result<()> {
    let man_dir = out.join("man");
    let completion_dir = out.join("completions");
    let epoch = match std::env::var(env::SOURCE_DATE_EPOCH) {
        Ok(v) => v
            .parse::<u64>()
            .with_context(|| format!("{}={v:?} is not a number", env::SOURCE_DATE_EPOCH))?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let date = docs::man_date(epoch);
    for cmd in ganeti_packaging::ALL_COMMANDS.iter().map(|c| c()) {
        let name = cmd.get_name().to_string();
        let pages = docs::man_pages(cmd.clone(), &date)
            .with_context(|| format!("rendering the man pages of {name}"))?;
        write_all(&man_dir, &pages)?;
        write_all(&completion_dir, &[docs::bash_completion(cmd)])?;
    }
    Ok(())
}
