//! `ganeti-switch runs VERSION`: whether an installed Ganeti version would
//! start on this node, asked before anything is switched to it. A complete
//! tree (`installed`) is not enough: a distribution upgrade can take the
//! runtime a version needs away (Debian #987907, #905176; Ganeti 3.0
//! imports `asynchat`, which Python 3.12 no longer has), and then the
//! version fails only once it is active, after the configuration change.
//!
//! What is asked, of both trees of the version (`${libdir}/ganeti/V` and
//! the entry scripts at the top of `${prefix}/share/ganeti/V`):
//! * every script's interpreter (its `#!` line) is there;
//! * every Python script's top-level imports succeed under that
//!   interpreter, with the script's own directory first on `sys.path` as
//!   Python puts it when the script runs (so the version's own package is
//!   the one imported). Only the `import` statements run, nothing else of
//!   the script; no byte code is written (`-B`);
//! * every ELF program's shared libraries are found by the dynamic loader
//!   (`ldd`, whose `=> not found` lines name them).
//!
//! Under `--root DIR` (a chroot, a test) the programs run through
//! `chroot DIR`, so DIR's interpreter and libraries are the ones asked.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use ganeti_layout::node::{DirVersion, InstallPaths};

/// Runs the top-level imports of each script named on the command line
/// (argv[1:]); prints `SCRIPT<TAB>ERROR` for each that fails; exits 1 if
/// any did. Python 2.7 (Ganeti 2.10-2.16) and 3 alike: no print function,
/// and `type_ignores` (which 3.8 needs) set as an attribute.
const IMPORTS: &str = r#"
import ast, os, sys
bad = 0
for script in sys.argv[1:]:
    real = os.path.realpath(script)
    try:
        with open(real, "rb") as f:
            tree = ast.parse(f.read(), real)
        sys.path[0] = os.path.dirname(real)
        module = ast.Module(body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))])
        module.type_ignores = []
        exec(compile(module, real, "exec"), {"__name__": "__ganeti_switch_runs__"})
    except BaseException as e:
        sys.stdout.write("%s\t%s: %s\n" % (script, type(e).__name__, e))
        sys.stdout.flush()
        bad += 1
sys.exit(1 if bad else 0)
"#;

/// How long the interpreters and the loader may take before the check
/// gives up on them (an import that blocks must not hold the upgrade,
/// which runs this in-process on the master, with the node lock held).
pub const CHECK_LIMIT: Duration = Duration::from_secs(120);

/// One thing that would keep the version from running here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (a logical path) that would not run.
    pub file: PathBuf,
    /// What is missing, as the interpreter or the loader said it.
    pub what: String,
}

/// `FILE: WHAT`, one line, as `ganeti-switch runs` prints it and the
/// upgrade reads it back (`upgrade::gate::runs_findings`).
impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.what)
    }
}

/// What the check looked at, and what it found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runs {
    /// Python scripts whose imports were run.
    pub python: usize,
    /// ELF programs whose libraries were looked up.
    pub programs: usize,
    pub problems: Vec<Problem>,
}

/// The version's scripts and programs, asked as the module doc says.
/// Errors: a tree that cannot be read, or a checker (the interpreter,
/// `ldd`, `chroot`) that cannot be started at all, naming it.
pub fn check(paths: &InstallPaths, v: &DirVersion) -> Result<Runs, std::io::Error> {
    for tree in [paths.version_lib(v), paths.version_share(v)] {
        if !paths.fs().is_dir(&tree) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "Ganeti {v} is not installed here: {} is missing (ganeti-switch installed {v} says what is there)",
                    tree.display()
                ),
            ));
        }
    }
    let mut files = Vec::new();
    walk(paths, &paths.version_lib(v), &mut files)?;
    top_level(paths, &paths.version_share(v), &mut files)?;
    let mut runs = Runs::default();
    // Scripts by their `#!` line (one interpreter run each), and programs.
    let mut scripts: BTreeMap<Vec<String>, Vec<PathBuf>> = BTreeMap::new();
    let mut programs = Vec::new();
    for file in files {
        match kind(paths, &file) {
            Kind::Script(shebang) => scripts.entry(shebang).or_default().push(file),
            Kind::Elf => programs.push(file),
            Kind::Other => {}
        }
    }
    // The Python checks run (one interpreter per `#!` line) while the
    // loader is asked about every program at once.
    let mut pending = Vec::new();
    for (shebang, files) in scripts {
        let interpreter = PathBuf::from(&shebang[0]);
        if !paths.fs().exists(&interpreter) {
            runs.problems.extend(files.into_iter().map(|file| Problem {
                file,
                what: format!("its interpreter {} is not installed", interpreter.display()),
            }));
            continue;
        }
        if !is_python(&shebang) {
            continue;
        }
        runs.python += files.len();
        let mut argv = shebang.clone();
        argv.extend(["-B".into(), "-c".into(), IMPORTS.into()]);
        argv.extend(files.iter().map(|f| f.display().to_string()));
        let child = command(paths, &argv).spawn().map_err(|e| named(&argv, e))?;
        pending.push((shebang, finished(child)));
    }
    runs.programs = programs.len();
    // What ldd does not say: a program for another machine, or whose
    // program loader (its PT_INTERP) is not there, "is not a dynamic
    // executable" to it, and would not start either.
    let machine = elf_of(paths, Path::new("/bin/sh")).map(|e| e.machine);
    for program in &programs {
        let Some(elf) = elf_of(paths, program) else {
            continue;
        };
        if machine.is_some_and(|m| m != elf.machine) {
            runs.problems.push(Problem {
                file: program.clone(),
                what: format!(
                    "it is built for another machine (ELF machine {}; this node's /bin/sh is {})",
                    elf.machine,
                    machine.unwrap_or_default()
                ),
            });
        } else if let Some(interp) = elf.interp.filter(|i| !paths.fs().exists(Path::new(i))) {
            runs.problems.push(Problem {
                file: program.clone(),
                what: format!("its program loader {interp} is not installed"),
            });
        }
    }
    if !programs.is_empty() {
        let mut argv = vec!["ldd".to_string()];
        argv.extend(programs.iter().map(|p| p.display().to_string()));
        let child = command(paths, &argv).spawn().map_err(|e| named(&argv, e))?;
        match finished(child).recv() {
            Ok(Some(Ok(out))) => {
                runs.problems.extend(missing_libraries(
                    &String::from_utf8_lossy(&out.stdout),
                    &programs,
                ));
                // 1: "not a dynamic executable" (a script or a static
                // program); above it, ldd itself did not run.
                if out.status.code().is_none_or(|c| c > 1) {
                    runs.problems.push(Problem {
                        file: PathBuf::from("ldd"),
                        what: format!(
                            "the loader could not be asked ({}): {}",
                            out.status,
                            last_line(&out.stderr)
                        ),
                    });
                }
            }
            Ok(Some(Err(e))) => return Err(named(&argv, e)),
            Ok(None) | Err(_) => runs.problems.push(Problem {
                file: PathBuf::from("ldd"),
                what: format!("did not finish in {} s", CHECK_LIMIT.as_secs()),
            }),
        }
    }
    for (shebang, answer) in pending {
        let out = match answer.recv() {
            Ok(Some(out)) => out?,
            Ok(None) | Err(_) => {
                runs.problems.push(Problem {
                    file: PathBuf::from(&shebang[0]),
                    what: format!(
                        "{} did not finish the import check in {} s (an import that blocks?)",
                        shebang.join(" "),
                        CHECK_LIMIT.as_secs()
                    ),
                });
                continue;
            }
        };
        let said = String::from_utf8_lossy(&out.stdout);
        for line in said.lines() {
            if let Some((file, what)) = line.split_once('\t') {
                runs.problems.push(Problem {
                    file: file.into(),
                    what: format!("import fails under {}: {what}", shebang.join(" ")),
                });
            }
        }
        if !out.status.success() && !said.contains('\t') {
            runs.problems.push(Problem {
                file: PathBuf::from(&shebang[0]),
                what: format!(
                    "{} could not run the import check ({}): {}",
                    shebang.join(" "),
                    out.status,
                    last_line(&out.stderr)
                ),
            });
        }
    }
    Ok(runs)
}

enum Kind {
    /// A script, with its `#!` line's words.
    Script(Vec<String>),
    Elf,
    Other,
}

fn kind(paths: &InstallPaths, file: &Path) -> Kind {
    let mut head = [0u8; 256];
    let n = fs_err::File::open(paths.fs().host_path(file))
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if head.starts_with(b"\x7fELF") {
        return Kind::Elf;
    }
    let Some(rest) = head.strip_prefix(b"#!") else {
        return Kind::Other;
    };
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let words: Vec<String> = String::from_utf8_lossy(line)
        .split_whitespace()
        .map(String::from)
        .collect();
    if words.is_empty() {
        Kind::Other
    } else {
        Kind::Script(words)
    }
}

/// What an ELF file's header says, of what the check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Elf {
    /// `e_machine`: the instruction set it is built for.
    machine: u16,
    /// Its program loader (`PT_INTERP`), for a dynamically linked program.
    interp: Option<String>,
}

/// The ELF header of `file` (a logical path), if it is one; read from its
/// first 4 KiB, where the program headers and the loader's name are in
/// every program a linker writes.
fn elf_of(paths: &InstallPaths, file: &Path) -> Option<Elf> {
    let mut head = vec![0u8; 4096];
    let n = fs_err::File::open(paths.fs().host_path(file))
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    head.truncate(n);
    parse_elf(&head)
}

/// [`Elf`] of the first bytes of a file: 32 or 64 bits, either byte order.
fn parse_elf(b: &[u8]) -> Option<Elf> {
    if !b.starts_with(b"\x7fELF") {
        return None;
    }
    let wide = *b.get(4)? == 2;
    let big = *b.get(5)? == 2;
    let int = |at: usize, len: usize| -> Option<u64> {
        let bytes = b.get(at..at + len)?;
        Some(bytes.iter().enumerate().fold(0u64, |acc, (i, byte)| {
            let shift = if big { 8 * (len - 1 - i) } else { 8 * i };
            acc | (u64::from(*byte) << shift)
        }))
    };
    let machine = u16::try_from(int(18, 2)?).ok()?;
    let (phoff, phentsize, phnum) = if wide {
        (int(32, 8)?, int(54, 2)?, int(56, 2)?)
    } else {
        (int(28, 4)?, int(42, 2)?, int(44, 2)?)
    };
    let mut interp = None;
    for i in 0..phnum {
        let at = usize::try_from(phoff + i * phentsize).ok()?;
        // PT_INTERP
        if int(at, 4)? != 3 {
            continue;
        }
        let (offset, size) = if wide {
            (int(at + 8, 8)?, int(at + 32, 8)?)
        } else {
            (int(at + 4, 4)?, int(at + 16, 4)?)
        };
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        // Beyond what was read: not judged.
        if let Some(name) = b.get(start..end) {
            let name = name.split(|c| *c == 0).next().unwrap_or_default();
            interp = Some(String::from_utf8_lossy(name).into_owned());
        }
        break;
    }
    Some(Elf { machine, interp })
}

/// `python3`, `python3.11`, or `/usr/bin/env python3`.
fn is_python(shebang: &[String]) -> bool {
    shebang.iter().take(2).any(|w| {
        Path::new(w)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("python"))
    })
}

/// Regular files under `dir`, recursively (symlinks are not followed: the
/// trees' links point at their own files or outside the version).
fn walk(paths: &InstallPaths, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), std::io::Error> {
    for entry in paths.fs().read_dir(dir).map_err(std::io::Error::other)? {
        let path = dir.join(&entry.name);
        match entry.file_type {
            Some(t) if t.is_dir() => walk(paths, &path, out)?,
            Some(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

/// The regular files directly in `dir` (the share tree's entry scripts;
/// its Python package and man pages are not programs).
fn top_level(
    paths: &InstallPaths,
    dir: &Path,
    out: &mut Vec<PathBuf>,
) -> Result<(), std::io::Error> {
    for entry in paths.fs().read_dir(dir).map_err(std::io::Error::other)? {
        if entry.file_type.is_some_and(|t| t.is_file()) {
            out.push(dir.join(&entry.name));
        }
    }
    Ok(())
}

/// `ldd`'s answer for `programs` (one header line `PROGRAM:` each when
/// given several, then its libraries), as the problems of the programs
/// with a library the loader does not find.
fn missing_libraries(said: &str, programs: &[PathBuf]) -> Vec<Problem> {
    let mut found: Vec<(PathBuf, Vec<String>)> = Vec::new();
    let mut current = programs.first().cloned();
    for line in said.lines() {
        if let Some(header) = line
            .strip_suffix(':')
            .filter(|h| !h.starts_with(char::is_whitespace))
        {
            current = Some(PathBuf::from(header));
            continue;
        }
        let Some(program) = &current else {
            continue;
        };
        // `libfoo.so.1 => not found`, or a library too old for the
        // program: `/lib/libc.so.6: version `GLIBC_2.38' not found
        // (required by PROGRAM)`.
        let lib = if let Some((_, rest)) = line.split_once("error while loading shared libraries: ")
        {
            // A library that is there but cannot be loaded (damaged,
            // truncated): `NAME: cannot open ...: file too short`.
            match rest.split_once(": ") {
                Some((name, why)) => format!("{name} ({why})"),
                None => rest.to_string(),
            }
        } else if line.contains("=> not found") {
            match line.split_whitespace().next() {
                Some(lib) => lib.to_string(),
                None => continue,
            }
        } else if let Some((lib, rest)) = line.trim().split_once(": version ") {
            let lib = lib.rsplit(": ").next().unwrap_or(lib);
            let version = rest.split(" not found").next().unwrap_or(rest);
            let name = Path::new(lib)
                .file_name()
                .map_or(lib.into(), |n| n.to_string_lossy());
            format!("{name} version {version}")
        } else {
            continue;
        };
        let lib = lib.as_str();
        match found.iter_mut().find(|(p, _)| p == program) {
            Some((_, libs)) if libs.iter().any(|l| l == lib) => {}
            Some((_, libs)) => libs.push(lib.to_string()),
            None => found.push((program.clone(), vec![lib.to_string()])),
        }
    }
    found
        .into_iter()
        .map(|(file, libs)| Problem {
            file,
            what: format!("the loader does not find {}", libs.join(", ")),
        })
        .collect()
}

/// `argv` on this node: directly, or under `--root` through `chroot`;
/// its output captured.
fn command(paths: &InstallPaths, argv: &[String]) -> Command {
    let mut cmd = if paths.root() == Path::new("/") {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    } else {
        let mut c = Command::new("chroot");
        c.arg(paths.root()).args(argv);
        c
    };
    // As the daemons start: not with an admin's PYTHONPATH or
    // LD_LIBRARY_PATH, which could make a missing piece look present.
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("LD_LIBRARY_PATH")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// The output of `child` once it ends, on a channel: `None` when it did
/// not end within [`CHECK_LIMIT`] of its start, and was killed. Its pipes
/// are drained meanwhile, so it never blocks on a full one.
fn finished(child: Child) -> std::sync::mpsc::Receiver<Option<Result<Output, std::io::Error>>> {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let (answer_tx, answer_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || match rx.recv_timeout(CHECK_LIMIT) {
        Ok(answer) => {
            let _ = answer_tx.send(Some(answer));
        }
        Err(_) => {
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            let _ = answer_tx.send(None);
        }
    });
    answer_rx
}

/// A checker that could not be started, named.
fn named(argv: &[String], e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", argv[0]))
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim()
        .lines()
        .last()
        .unwrap_or("(no message)")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 3.1's paths under a scratch prefix on this host (root `/`,
    /// so that the programs are asked for real); the directory goes with
    /// the first value.
    fn scratch_version() -> (tempfile::TempDir, InstallPaths, DirVersion) {
        let dir = tempfile::tempdir().expect("tempdir");
        let prefix = dir.path().join("usr");
        let paths = InstallPaths::new(
            Path::new("/"),
            &prefix,
            &dir.path().join("etc"),
            Some(&prefix.join("lib")),
            &dir.path().join("var"),
        )
        .expect("paths");
        (dir, paths, "3.1".parse().expect("v"))
    }

    /// A version's trees under a scratch prefix on this host (root `/`):
    /// the scripts and a program are asked for real.
    #[test]
    fn a_missing_module_or_interpreter_is_named_with_its_file() {
        if !Path::new("/usr/bin/python3").exists() || !Path::new("/usr/bin/ldd").exists() {
            eprintln!("SKIPPED a_missing_module_or_interpreter_is_named_with_its_file: needs /usr/bin/python3 and ldd");
            return;
        }
        let (_dir, paths, v) = scratch_version();
        let share = paths.version_share(&v);
        let lib = paths.version_lib(&v);
        fs_err::create_dir_all(share.join("ganeti")).expect("mkdir");
        fs_err::create_dir_all(lib.join("usr/sbin")).expect("mkdir");
        let write = |p: PathBuf, text: &str| fs_err::write(p, text).expect("write");
        write(share.join("ganeti/__init__.py"), "");
        write(share.join("ganeti/cli.py"), "import os\n");
        write(
            share.join("gnt-cluster"),
            "#!/usr/bin/python3\nimport sys\nimport ganeti.cli as main\nsys.exit(1)\n",
        );
        write(
            share.join("gnt-node"),
            "#!/usr/bin/python3\nimport ganeti.cli\nimport no_such_module_here\n",
        );
        write(
            share.join("ganeti-noded"),
            "#!/usr/bin/python9 -E\nimport os\n",
        );
        write(share.join("daemon-util"), "#!/bin/sh\nexit 0\n");
        // Not an entry script: the package itself is not walked.
        write(
            share.join("ganeti/broken.py"),
            "#!/usr/bin/python3\nimport no_such_module_either\n",
        );
        fs_err::copy("/bin/true", lib.join("usr/sbin/ganeti-luxid")).expect("copy");
        let runs = check(&paths, &v).expect("check");
        assert_eq!((runs.python, runs.programs), (2, 1), "{runs:?}");
        let said: Vec<String> = runs.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said.iter().any(
                |l| l.starts_with(&share.join("gnt-node").display().to_string())
                    && l.contains("ModuleNotFoundError: No module named 'no_such_module_here'")
            ),
            "{said:?}"
        );
        assert!(
            said.iter().any(|l| l.contains("ganeti-noded")
                && l.contains("its interpreter /usr/bin/python9 is not installed")),
            "{said:?}"
        );
    }

    #[test]
    fn ldd_headers_tell_whose_library_is_missing() {
        let said = "/a/luxid:\n\tlinux-vdso.so.1 (0x1)\n\tlibpcre.so.3 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x2)\n/a/htools:\n\tlibgmp.so.10 => not found\n\tlibpcre.so.3 => not found\n\tlibgmp.so.10 => not found\n/a/confd:\n\tlibc.so.6 => /lib/libc.so.6 (0x2)\n";
        let programs: Vec<PathBuf> = ["/a/luxid", "/a/htools", "/a/confd"]
            .map(PathBuf::from)
            .to_vec();
        let found: Vec<String> = missing_libraries(said, &programs)
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            found,
            [
                "/a/luxid: the loader does not find libpcre.so.3",
                "/a/htools: the loader does not find libgmp.so.10, libpcre.so.3"
            ]
        );
        for (said, what) in [
            // A library too old for the program (built for a newer release).
            (
                "/a/luxid:\n\t/a/luxid: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found (required by /a/luxid)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n",
                "the loader does not find libc.so.6 version `GLIBC_2.38'",
            ),
            // A library that is there but damaged.
            (
                "/a/luxid:\n\t/a/luxid: error while loading shared libraries: /lib/x86_64-linux-gnu/libpcre.so.3: file too short\n",
                "the loader does not find /lib/x86_64-linux-gnu/libpcre.so.3 (file too short)",
            ),
        ] {
            let found = missing_libraries(said, &programs);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].what, what);
        }
        // One program: ldd prints no header.
        let one = missing_libraries("\tlibpcre.so.3 => not found\n", &programs[..1]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].file, PathBuf::from("/a/luxid"));
    }

    /// The import check is Python 2.7's and 3's alike (Ganeti 2.10-2.16
    /// run on 2.7): every interpreter found here runs it on a good and a
    /// bad script.
    #[test]
    fn the_import_check_runs_under_python_2_and_3() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("good");
        let bad = dir.path().join("bad");
        fs_err::write(&good, "import os\nfrom os import path\n").expect("write");
        fs_err::write(&bad, "import os\nimport no_such_module_here\n").expect("write");
        // On PATH, and pyenv's versions where there are any (Debian 12
        // has no Python 2 of its own).
        let mut pythons: Vec<PathBuf> = ["python2.7", "python3", "/usr/bin/python3"]
            .map(PathBuf::from)
            .to_vec();
        let pyenv = std::env::var_os("PYENV_ROOT")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
        if let Some(Ok(versions)) = pyenv.map(|p| fs_err::read_dir(p.join("versions"))) {
            pythons.extend(versions.flatten().map(|v| v.path().join("bin/python")));
        }
        let mut ran = Vec::new();
        for python in &pythons {
            let Ok(out) = Command::new(python)
                .args(["-B", "-c", IMPORTS])
                .arg(&good)
                .arg(&bad)
                .output()
            else {
                continue;
            };
            // A pyenv shim with no version selected: not an interpreter.
            if out.status.code() == Some(127) {
                continue;
            }
            let python = python.display();
            ran.push(python.to_string());
            let said = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{python}: {said} {:?}",
                out.stderr
            );
            assert!(
                !said.contains(&good.display().to_string()),
                "{python}: {said}"
            );
            assert!(
                said.contains(&format!("{}\t", bad.display()))
                    && said.contains("no_such_module_here"),
                "{python}: {said}"
            );
        }
        if ran.is_empty() {
            eprintln!("SKIPPED the_import_check_runs_under_python_2_and_3: no Python here");
        } else {
            eprintln!("the import check ran under: {}", ran.join(", "));
        }
    }

    /// A program for another machine, or one whose loader is missing, is
    /// not started by ldd (it says "not a dynamic executable") and would
    /// not start: the header says so. Checked on a copy of a real program.
    #[test]
    fn elf_headers_tell_the_machine_and_the_loader() {
        let Ok(real) = fs_err::read("/bin/true") else {
            eprintln!("SKIPPED elf_headers_tell_the_machine_and_the_loader: no /bin/true");
            return;
        };
        let elf = parse_elf(&real).expect("an ELF program");
        let interp = elf.interp.clone().expect("dynamically linked");
        assert!(interp.starts_with('/'), "{interp}");
        assert_eq!(parse_elf(b"#!/bin/sh\n"), None);
        let (_dir, paths, v) = scratch_version();
        let sbin = paths.version_lib(&v).join("usr/sbin");
        fs_err::create_dir_all(&sbin).expect("mkdir");
        fs_err::create_dir_all(paths.version_share(&v)).expect("mkdir");
        // Another machine: e_machine changed.
        let mut other = real.clone();
        other[18] ^= 0x7f;
        fs_err::write(sbin.join("ganeti-confd"), &other).expect("write");
        // A loader that is not there: its name changed in place.
        let mut lost = real.clone();
        let at = lost
            .windows(interp.len())
            .position(|w| w == interp.as_bytes())
            .expect("the loader's name");
        let last = at + interp.len() - 1;
        lost[last] = if lost[last] == b'9' { b'8' } else { b'9' };
        fs_err::write(sbin.join("ganeti-luxid"), &lost).expect("write");
        fs_err::write(sbin.join("ganeti-wconfd"), &real).expect("write");
        let runs = check(&paths, &v).expect("check");
        let said: Vec<String> = runs.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said.iter()
                .any(|l| l.contains("ganeti-confd: it is built for another machine")),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|l| l.contains("ganeti-luxid: its program loader")
                    && l.contains("is not installed")),
            "{said:?}"
        );
    }

    #[test]
    fn shebangs_that_are_python() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert!(is_python(&w("/usr/bin/python3")));
        assert!(is_python(&w("/usr/bin/python3.11 -E")));
        assert!(is_python(&w("/usr/bin/env python3")));
        assert!(!is_python(&w("/bin/bash")));
        assert!(!is_python(&w("/bin/sh -e")));
    }
}
