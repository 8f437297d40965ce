//! Ganeti versions: releases, directory versions, config versions and the
//! rule that says which version may follow which.
//!
//! Why not the `semver` crate: Ganeti versions are not SemVer. Releases carry
//! Debian-style suffixes (`2.16.0~rc2`, `3.2.0~alpha1`) that must sort *before*
//! the plain release, `~rc10` must sort after `~rc2`, and directory versions
//! are usually two fields (`3.0`). `semver` rejects `~` and two-field versions
//! and compares pre-release identifiers lexically. The ordering here is
//! dpkg's (`verrevcmp`), checked against `dpkg --compare-versions` in tests.
//!
//! Every version string that reaches a path or a remote shell is one of the
//! types below, and each type can only be built through [`check_safe`], so an
//! unsafe string (`..`, `/`, whitespace, `;`, ...) cannot exist as a value.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Longest version string accepted; it becomes a directory name on every node.
pub const MAX_VERSION_LEN: usize = 64;

/// Why a version string was refused. Each variant names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version string is empty")]
    Empty,
    #[error("version {value:?} is longer than {MAX_VERSION_LEN} characters")]
    TooLong { value: String },
    #[error("version {value:?} contains a NUL byte")]
    Nul { value: String },
    #[error("version {value:?} contains whitespace")]
    Whitespace { value: String },
    #[error("version {value:?} contains '/', which would make it a path")]
    Slash { value: String },
    #[error("version {value:?} contains '..', which could escape the version directory")]
    DotDot { value: String },
    #[error("version {value:?} contains ';', which a shell would run as a separator")]
    Semicolon { value: String },
    #[error("version {value:?} contains {character:?}; only [0-9A-Za-z.~+-] are allowed")]
    BadCharacter { value: String, character: char },
    #[error("version {value:?} does not start with MAJOR.MINOR (for example 3.0 or 3.0.2)")]
    NotNumeric { value: String },
    #[error("release {value:?} is not MAJOR.MINOR.REVISION with an optional suffix (for example 3.0.2 or 2.16.0~rc2)")]
    NotRelease { value: String },
}

/// Checks the rules every version string must obey before it may name a
/// directory or appear in a command line. The order of the checks decides
/// which rule is reported, most specific first.
pub fn check_safe(value: &str) -> Result<(), VersionError> {
    let owned = || value.to_string();
    if value.is_empty() {
        return Err(VersionError::Empty);
    }
    if value.len() > MAX_VERSION_LEN {
        return Err(VersionError::TooLong { value: owned() });
    }
    if value.contains('\0') {
        return Err(VersionError::Nul { value: owned() });
    }
    if value.chars().any(char::is_whitespace) {
        return Err(VersionError::Whitespace { value: owned() });
    }
    if value.contains('/') {
        return Err(VersionError::Slash { value: owned() });
    }
    if value.contains("..") {
        return Err(VersionError::DotDot { value: owned() });
    }
    if value.contains(';') {
        return Err(VersionError::Semicolon { value: owned() });
    }
    if let Some(character) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '~' | '+' | '-')))
    {
        return Err(VersionError::BadCharacter {
            value: owned(),
            character,
        });
    }
    Ok(())
}

/// Major, minor and revision: what Ganeti's own `ParseVersion` extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Triple {
    pub major: u32,
    pub minor: u32,
    pub revision: u32,
}

impl Triple {
    pub const fn new(major: u32, minor: u32, revision: u32) -> Self {
        Self {
            major,
            minor,
            revision,
        }
    }

    /// `M.m` and `M.m.r` prefixes, the rest ignored, as Ganeti parses them.
    fn parse_prefix(value: &str) -> Option<(Triple, usize)> {
        let mut fields = [0u32; 3];
        let mut count = 0;
        let mut pos = 0;
        let bytes = value.as_bytes();
        while count < 3 {
            let start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == start {
                break;
            }
            fields[count] = value[start..pos].parse().ok()?;
            count += 1;
            if count < 3 && pos < bytes.len() && bytes[pos] == b'.' {
                let next_is_digit = bytes.get(pos + 1).is_some_and(u8::is_ascii_digit);
                if next_is_digit {
                    pos += 1;
                    continue;
                }
            }
            break;
        }
        if count < 2 {
            return None;
        }
        Some((Triple::new(fields[0], fields[1], fields[2]), pos))
    }

    /// The two-field directory name Ganeti uses by default (`3.0`).
    pub fn short_name(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for Triple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)
    }
}

/// A full Ganeti release: `3.0.2`, `2.16.0~rc2`, `3.2.0~alpha1`.
#[derive(Debug, Clone)]
pub struct Release {
    text: String,
    triple: Triple,
}

impl Release {
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn triple(&self) -> Triple {
        self.triple
    }
}

impl FromStr for Release {
    type Err = VersionError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        check_safe(value)?;
        let not_release = || VersionError::NotRelease {
            value: value.to_string(),
        };
        let (triple, end) = Triple::parse_prefix(value).ok_or_else(not_release)?;
        // Three numeric fields are required; the suffix must not continue a
        // number (3.0.2x is fine as a suffix, "3.0" is not a release).
        let fields = value[..end].split('.').count();
        if fields != 3 {
            return Err(not_release());
        }
        Ok(Release {
            text: value.to_string(),
            triple,
        })
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.text)
    }
}

impl PartialEq for Release {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Release {}
impl PartialOrd for Release {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Release {
    fn cmp(&self, other: &Self) -> Ordering {
        dpkg_compare(&self.text, &other.text)
    }
}

/// How the directory version is derived from a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirStyle {
    /// `MAJOR.MINOR` (Ganeti's default, Debian's choice).
    #[default]
    Short,
    /// The whole release (`--enable-versionfull`).
    Full,
}

/// The name of a version directory: `3.0`, or the full release on sites that
/// install with full-version directories. Always safe to use as a path
/// component and inside a shell command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirVersion {
    text: String,
    triple: Triple,
}

impl DirVersion {
    pub fn from_release(release: &Release, style: DirStyle) -> DirVersion {
        match style {
            DirStyle::Short => DirVersion {
                text: release.triple.short_name(),
                triple: Triple::new(release.triple.major, release.triple.minor, 0),
            },
            DirStyle::Full => DirVersion {
                text: release.text.clone(),
                triple: release.triple,
            },
        }
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// What Ganeti's parser would read from this name (`3.0` is 3.0.0).
    pub fn triple(&self) -> Triple {
        self.triple
    }
}

impl FromStr for DirVersion {
    type Err = VersionError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        check_safe(value)?;
        let (triple, _) = Triple::parse_prefix(value).ok_or_else(|| VersionError::NotNumeric {
            value: value.to_string(),
        })?;
        Ok(DirVersion {
            text: value.to_string(),
            triple,
        })
    }
}

impl fmt::Display for DirVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.text)
    }
}

impl PartialOrd for DirVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for DirVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        dpkg_compare(&self.text, &other.text).then_with(|| self.text.cmp(&other.text))
    }
}

impl serde::Serialize for DirVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}
impl<'de> serde::Deserialize<'de> for DirVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
impl serde::Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}
impl<'de> serde::Deserialize<'de> for Release {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Compares two version strings exactly as `dpkg --compare-versions` does
/// (epoch, upstream part and Debian revision, each with `verrevcmp`).
pub fn dpkg_compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, rest_a) = split_epoch(a);
    let (epoch_b, rest_b) = split_epoch(b);
    epoch_a.cmp(&epoch_b).then_with(|| {
        let (up_a, rev_a) = split_revision(rest_a);
        let (up_b, rev_b) = split_revision(rest_b);
        verrevcmp(up_a, up_b).then_with(|| verrevcmp(rev_a, rev_b))
    })
}

fn split_epoch(v: &str) -> (u64, &str) {
    match v.split_once(':') {
        Some((epoch, rest)) if epoch.bytes().all(|c| c.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(0), rest)
        }
        _ => (0, v),
    }
}

fn split_revision(v: &str) -> (&str, &str) {
    match v.rfind('-') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, ""),
    }
}

/// dpkg's character weight: `~` sorts before everything, even the end of the
/// string; letters before other characters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        // Digit run, numerically (leading zeros ignored).
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> Release {
        s.parse().expect("valid release")
    }

    #[test]
    fn releases_parse_and_order_like_dpkg() {
        assert!(rel("2.16.0~rc2") < rel("2.16.0"));
        assert!(rel("2.16.0~rc10") > rel("2.16.0~rc2"));
        assert!(rel("2.16.0~beta1") < rel("2.16.0~rc1"));
        assert!(rel("3.2.0~alpha1") < rel("3.2.0~beta1"));
        assert!(rel("3.0.2") < rel("3.1.0~rc2"));
        assert_eq!(rel("3.1.0~rc2").triple(), Triple::new(3, 1, 0));
        assert!(matches!(
            "3.0".parse::<Release>(),
            Err(VersionError::NotRelease { .. })
        ));
    }

    #[test]
    fn dir_versions() {
        let r = rel("3.1.0~rc2");
        assert_eq!(
            DirVersion::from_release(&r, DirStyle::Short).as_str(),
            "3.1"
        );
        assert_eq!(
            DirVersion::from_release(&r, DirStyle::Full).as_str(),
            "3.1.0~rc2"
        );
        let d: DirVersion = "2.16".parse().expect("valid");
        assert_eq!(d.triple(), Triple::new(2, 16, 0));
    }

    #[test]
    fn unsafe_strings_name_their_rule() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("3.0/../x", "'/'"),
            ("3..0", "'..'"),
            ("3.0;rm", "';'"),
            ("3.0 x", "whitespace"),
            ("3.0\0", "NUL"),
            ("3.0$x", "only [0-9A-Za-z.~+-]"),
            ("default", "MAJOR.MINOR"),
            ("-3.0", "MAJOR.MINOR"),
        ];
        for (input, rule) in cases {
            let err = input.parse::<DirVersion>().expect_err(input).to_string();
            assert!(err.contains(rule), "{input:?}: {err}");
        }
        let long = format!("3.0.{}", "1".repeat(70));
        assert!(long
            .parse::<DirVersion>()
            .expect_err("too long")
            .to_string()
            .contains("longer than 64"));
    }

    /// Many generated pairs compared with the real `dpkg --compare-versions`.
    #[test]
    fn ordering_matches_dpkg_compare_versions() {
        if std::process::Command::new("dpkg")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED ordering_matches_dpkg_compare_versions: dpkg is not installed");
            return;
        }
        let parts = ["0", "1", "2", "10", "16", "02"];
        let suffixes = [
            "", "~rc1", "~rc2", "~rc10", "~beta1", "~alpha1", "~", "+deb1", "-3", "a", "~rc2-1",
        ];
        let mut seed: u64 = 0x5eed_1234_abcd_0001;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let mut gen = || {
            format!(
                "{}.{}.{}{}",
                parts[next(parts.len())],
                parts[next(parts.len())],
                parts[next(parts.len())],
                suffixes[next(suffixes.len())]
            )
        };
        let mut checked = 0;
        for _ in 0..600 {
            let (a, b) = (gen(), gen());
            let ours = dpkg_compare(&a, &b);
            for (op, expected) in [("lt", Ordering::Less), ("eq", Ordering::Equal)] {
                let status = std::process::Command::new("dpkg")
                    .args(["--compare-versions", &a, op, &b])
                    .status()
                    .expect("run dpkg");
                assert_eq!(
                    status.success(),
                    ours == expected,
                    "{a} {op} {b}: ours {ours:?}"
                );
            }
            checked += 1;
        }
        eprintln!("compared {checked} generated pairs with dpkg --compare-versions");
    }
}
