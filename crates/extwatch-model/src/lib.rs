//! The data extwatch emits: one versioned contract for every consumer.
//!
//! Everything that leaves the process (the JSON report, NDJSON events, the records the fleet collector
//! stores) is one of these types. Scripts depend on the field names, so they change only together with
//! [`SCHEMA`]; the JSON Schema in `schema/extwatch-v1.schema.json` is generated from these types
//! (`extwatch schema`) and a test fails when the committed copy drifts.
//!
//! Findings are data: a check that could not run is a [`CheckRun`] with status `error`, never a missing
//! finding.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod catalogue;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The schema identifier of every top-level document.
pub const SCHEMA: &str = "extwatch/v1";

/// The report `extwatch inventory` and `extwatch audit` print with `--format json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The audited host or offline root.
    pub host: Host,
    /// Every extension image found, in discovery order (class, search directory precedence, name).
    pub images: Vec<Image>,
    /// The merge state of each hierarchy systemd would merge into.
    pub hierarchies: Vec<Hierarchy>,
    /// Findings, sorted by severity (highest first), id, subject.
    pub findings: Vec<Finding>,
    /// Every check that was evaluated, with its outcome.
    pub checks: Vec<CheckRun>,
}

/// What was audited and how extwatch decided which systemd rules apply.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Host {
    /// The audited root directory (`/` for the live host).
    pub root: String,
    /// The systemd version whose rules were applied, e.g. `257` or `257.13`.
    pub systemd_version: String,
    /// How the version was chosen: `option`, `detected:<path>` or `default`.
    pub systemd_version_source: String,
    /// The host's os-release key/values (`/etc/os-release`, else `/usr/lib/os-release`), null if none
    /// or unreadable (then `os_release_error` says why).
    pub os_release: Option<BTreeMap<String, String>>,
    /// Why the host's os-release could not be used (over the size limit, unparsable, unreadable), or
    /// null. systemd then has no host ID to compare extensions with.
    #[serde(default)]
    pub os_release_error: Option<String>,
    /// The architecture systemd compares `ARCHITECTURE=` with (systemd's spelling, e.g. `x86-64`).
    pub architecture: String,
    /// True when the root has `/etc/initrd-release` (initrd search paths and scope apply).
    pub initrd: bool,
    /// The mount table that was read (path), or null when none was available.
    pub mountinfo: Option<String>,
}

/// Which systemd tool would use the image.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum ImageClass {
    /// `systemd-sysext`: merged over /usr and /opt.
    Sysext,
    /// `systemd-confext`: merged over /etc.
    Confext,
    /// `portablectl`: a portable service image.
    Portable,
}

impl ImageClass {
    /// The lowercase name used in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageClass::Sysext => "sysext",
            ImageClass::Confext => "confext",
            ImageClass::Portable => "portable",
        }
    }
}

/// What kind of thing the image is on disk.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// A plain directory (or btrfs subvolume).
    Directory,
    /// A naked squashfs file system.
    Squashfs,
    /// A naked erofs file system.
    Erofs,
    /// A GPT Discoverable Disk Image.
    Ddi,
    /// A block device.
    Block,
    /// Not recognised (a malformed or foreign `.raw`).
    Unknown,
}

/// systemd's verdict on whether it would use the image on this host.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Compatibility {
    /// True when systemd would merge the image.
    pub ok: bool,
    /// Why not, in systemd's own words (its debug message), or null.
    pub reason: Option<String>,
    /// True when systemd does not merely skip this image but aborts the whole merge because of it
    /// (e.g. a raw image whose extension-release cannot be found, or one shipping /usr/lib/os-release
    /// on systemd 252): while it is present, no extension is merged.
    pub fails_merge: bool,
}

/// Where an image's dm-verity root hash comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VeritySource {
    /// The DDI's verity signature partition (`rootHash`).
    SigPartition,
    /// A `.roothash`/`.usrhash` side-car file.
    Sidecar,
    /// A `user.verity.roothash`/`usrhash` xattr on the image file.
    Xattr,
    /// The DDI carries a verity hash partition; the hash follows the partition-UUID convention.
    PartitionUuid,
    /// No root hash is known.
    None,
}

/// The image's dm-verity state.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Verity {
    /// The declared root hash (lowercase hex), or null.
    pub root_hash: Option<String>,
    /// Where the root hash was found (the source systemd would use first).
    pub source: VeritySource,
    /// Whether the hash tree was recomputed and matched; null when it was not recomputed.
    pub verified: Option<bool>,
    /// Every root hash declared anywhere, by source (they must all agree).
    pub declared: Vec<DeclaredHash>,
    /// The root hash recomputed from the data (`--deep`, `verify`), or null.
    pub recomputed: Option<String>,
    /// What is wrong: disagreeing sources, a tree that does not match, unreadable verity metadata.
    pub problems: Vec<String>,
}

/// One declared root hash.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct DeclaredHash {
    /// Where it was found.
    pub source: VeritySource,
    /// The hash (lowercase hex).
    pub root_hash: String,
}

/// Outcome of the signature check.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SignatureStatus {
    /// Verifies with a trusted certificate over the declared root hash.
    Valid,
    /// Present but does not verify (bad signature, wrong root hash, unparsable).
    Invalid,
    /// Verifies cryptographically only with a certificate that is not trusted.
    Untrusted,
    /// No signature at all.
    Absent,
    /// A signature is present but was not verified in this run.
    Unverified,
}

/// Who signed the image.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Signer {
    /// Certificate subject (RFC 4514 style).
    pub subject: String,
    /// Certificate issuer.
    pub issuer: String,
    /// Serial number (hex).
    pub serial: String,
    /// SHA-256 of the DER certificate (lowercase hex).
    pub sha256_fingerprint: String,
    /// Start of validity, RFC 3339 UTC.
    pub not_before: Option<String>,
    /// End of validity, RFC 3339 UTC.
    pub not_after: Option<String>,
    /// Where the certificate that identified the signer came from (a trust file, or `embedded`).
    pub certificate_source: String,
}

/// The image's signature.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Signature {
    /// Verdict.
    pub status: SignatureStatus,
    /// Where the signature was found (`sig-partition`, `sidecar`), or null.
    pub source: Option<String>,
    /// The signer, when known.
    pub signer: Option<Signer>,
    /// Why the status is not `valid` (OpenSSL's or systemd's words), or null.
    pub reason: Option<String>,
    /// What systemd's userspace check would decide with the host's own `verity.d` certificates.
    pub host_status: Option<SignatureStatus>,
    /// Whether the signature JSON's `certificateFingerprint` names the signer (null: not declared or
    /// signer unknown).
    pub fingerprint_matches: Option<bool>,
    /// Which trust anchors decided `status`: `operator` (`--trust`) or `host` (verity.d).
    pub trust: Option<String>,
}

/// One extension or portable image found in a search directory.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Image {
    /// The image name systemd derives (the `extension-release.NAME` it looks for).
    pub name: String,
    /// sysext, confext or portable.
    pub class: ImageClass,
    /// The path of the directory entry, as seen inside the audited root (absolute).
    pub path: String,
    /// For symlinks and `.v/` directories: the path systemd actually opens (inside the root).
    pub resolved_path: Option<String>,
    /// The directory entry is a symlink. The booted host follows it (resolved inside the root);
    /// `systemd-sysext --root=` skips symlinked entries, so its offline `list` omits them.
    pub symlink: bool,
    /// What the image is on disk.
    pub format: ImageFormat,
    /// The search directory it was found in (absolute, inside the root).
    pub search_dir: String,
    /// True when systemd searches `search_dir` for this class at this version.
    pub searched: bool,
    /// The path of the higher-precedence image with the same name that hides this one, or null.
    pub masked_by: Option<String>,
    /// The extension-release key/values, null when none was found.
    pub release: Option<BTreeMap<String, String>>,
    /// The path of the release file inside the image that was used, or null.
    pub release_file: Option<String>,
    /// Would systemd merge it here.
    pub compatible: Compatibility,
    /// Merged into a hierarchy right now.
    pub merged: bool,
    /// The hierarchies (`/usr`, `/opt`, `/etc`) it is merged into.
    pub merged_into: Vec<String>,
    /// dm-verity state.
    pub verity: Verity,
    /// Signature state.
    pub signature: Signature,
    /// SHA-256 of the file (file images only; null for directories and block devices, and for files
    /// over the hashing cap: see `not_hashed`).
    pub sha256: Option<String>,
    /// Size in bytes (file images).
    pub size: Option<u64>,
    /// Bytes the file occupies on disk (`st_blocks` × 512; file images). Far below `size` for a
    /// sparse file.
    #[serde(default)]
    pub allocated_size: Option<u64>,
    /// Why a file image's `sha256` is null: over the per-image cap (`MAX_IMAGE_HASH`), the run's
    /// hashing budget spent (`MAX_HASH_PER_RUN`), or a read error. Null when hashed.
    #[serde(default)]
    pub not_hashed: Option<String>,
    /// What was left out of `release` to keep the report bounded (values over 4 KiB truncated with
    /// a marker, keys over the count or name-length caps dropped), or null when nothing was. The
    /// verdict in `compatible` is computed on the whole release.
    #[serde(default)]
    pub release_note: Option<String>,
    /// Modification time, RFC 3339 UTC.
    pub mtime: Option<String>,
    /// Problems found reading the image (the same text as its `extension-malformed` finding).
    pub errors: Vec<String>,
}

/// The merge state of one hierarchy (what `systemd-sysext status` shows, cross-checked with mountinfo).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Hierarchy {
    /// `/usr`, `/opt` or `/etc`.
    pub hierarchy: String,
    /// sysext or confext.
    pub class: ImageClass,
    /// systemd's own verdict: a mount point whose marker `dev` equals its st_dev.
    pub merged: bool,
    /// The overlay found in the mount table on this hierarchy, if any.
    pub overlay: Option<OverlayMount>,
    /// The content of the marker directory (`.systemd-sysext`/`.systemd-confext`), if present.
    pub marker: Option<Marker>,
    /// Image names merged, from the marker (or the overlay's lowerdir when the marker is missing).
    pub extensions: Vec<String>,
    /// True when the overlay is writable (upperdir) or a mutable work_dir is recorded.
    pub mutable: bool,
}

/// An overlay mount on a hierarchy, from mountinfo.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct OverlayMount {
    /// Mount ID.
    pub mount_id: u64,
    /// `major:minor` of the overlay.
    pub dev: String,
    /// The mount source (`sysext`, `confext` or something else).
    pub source: String,
    /// True when mounted read-only.
    pub read_only: bool,
    /// The layers, top first, unescaped.
    pub lowerdirs: Vec<String>,
    /// The upper directory (mutable mode), if any.
    pub upperdir: Option<String>,
    /// Per-mount options (nodev, nosuid, noexec, ...).
    pub mount_options: Vec<String>,
}

/// The marker directory systemd writes into the top layer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Marker {
    /// The marker directory path inside the root.
    pub path: String,
    /// `dev` file content (`major:minor`), if present.
    pub dev: Option<String>,
    /// st_dev of the hierarchy as seen now (`major:minor`).
    pub hierarchy_dev: String,
    /// Names listed in `extensions`/`confexts`.
    pub extensions: Vec<String>,
    /// `work_dir` (v256+, mutable modes), unescaped.
    pub work_dir: Option<String>,
    /// `backing` (v258+).
    pub backing: Option<String>,
    /// `origin` JSON (v260+), as found.
    pub origin: Option<serde_json::Value>,
}

/// Finding severity, ordered.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Inventory evidence.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One finding: what is wrong with what, with evidence and the controls it evidences.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Finding {
    /// Stable kebab-case check id.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// NIST SP 800-53 rev. 5 controls, e.g. `["SI-7","SR-4"]`.
    pub controls: Vec<String>,
    /// What it is about: an image name, a path, a hierarchy.
    pub subject: String,
    /// One line for humans.
    pub message: String,
    /// Structured details (paths, hashes, reasons).
    pub evidence: serde_json::Value,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Evaluated, produced no finding.
    Pass,
    /// Evaluated, produced findings.
    Fail,
    /// Could not be evaluated; `reason` says why.
    Error,
    /// Not evaluated in this mode (e.g. needs input that was not given).
    Skipped,
}

/// One check of the catalogue and what happened when it ran.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct CheckRun {
    /// Check id.
    pub id: String,
    /// Default severity.
    pub severity: Severity,
    /// Controls.
    pub controls: Vec<String>,
    /// Outcome.
    pub status: CheckStatus,
    /// Number of findings it produced.
    pub findings: usize,
    /// Why it errored or was skipped.
    pub reason: Option<String>,
}

/// The JSON Schema of [`Report`], pretty-printed with a trailing newline.
pub fn report_schema_json() -> String {
    let schema = schemars::schema_for!(Report);
    // `{:#}` on a JSON value is `to_string_pretty` without its `Result` (a value always prints).
    format!("{:#}\n", schema.as_value())
}

/// What `extwatch verify IMAGE...` prints with `--format json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct VerifyReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// One entry per image given.
    pub images: Vec<VerifiedImage>,
}

/// The deep check of one image file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct VerifiedImage {
    /// The path given.
    pub path: String,
    /// Container format.
    pub format: ImageFormat,
    /// File system inside (`squashfs`, `erofs`), or null.
    pub fstype: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// SHA-256 of the whole file; null when a recomputed verity root hash identifies the content
    /// and `--sha256` was not given.
    pub sha256: Option<String>,
    /// GPT partitions (DDIs only).
    pub partitions: Vec<PartitionInfo>,
    /// The image name derived from the file name (as systemd ≥256 would).
    pub name: String,
    /// Which class's release file was found (`sysext`, `confext`), or null.
    pub class: Option<ImageClass>,
    /// extension-release key/values.
    pub release: Option<BTreeMap<String, String>>,
    /// Path of the release file inside the image.
    pub release_file: Option<String>,
    /// Whether the image ships /usr/lib/os-release (systemd refuses such sysexts).
    pub ships_os_release: bool,
    /// dm-verity, recomputed.
    pub verity: Verity,
    /// Signature and signer.
    pub signature: Signature,
    /// Problems reading the image.
    pub errors: Vec<String>,
    /// True when nothing is wrong with integrity: readable, tree matches (if any), signature not
    /// invalid/untrusted.
    pub ok: bool,
}

/// One GPT partition of a DDI.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PartitionInfo {
    /// 1-based partition number.
    pub number: u32,
    /// Role in the Discoverable Partitions Specification (`root-x86-64`, `usr-verity-sig-arm64`,
    /// `linux-generic`, `esp`, `other`).
    pub role: String,
    /// Partition type GUID.
    pub type_guid: String,
    /// Partition UUID.
    pub uuid: String,
    /// Partition label.
    pub label: String,
    /// Byte offset.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// True for the partition systemd would mount.
    pub chosen: bool,
}

/// The JSON Schema of [`VerifyReport`].
pub fn verify_schema_json() -> String {
    let schema = schemars::schema_for!(VerifyReport);
    // `{:#}` on a JSON value is `to_string_pretty` without its `Result` (a value always prints).
    format!("{:#}\n", schema.as_value())
}

/// What `extwatch files IMAGE --format json` prints: every entry of an image's file system, read
/// without mounting it, in pre-order with the entries of each directory sorted by name bytes (the
/// order of `systemd-dissect --mtree`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct FilesReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The image path given.
    pub image: String,
    /// Container format of the image.
    pub format: ImageFormat,
    /// Every entry, the root directory (`/`) first.
    pub entries: Vec<FileRecord>,
}

/// Type of one file-system entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device (overlayfs whiteouts are 0:0 character devices).
    Char,
    /// Block device.
    Block,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
}

/// One entry of an image's file system.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct FileRecord {
    /// Absolute path inside the image (`/` for the root), as UTF-8; bytes that are not valid UTF-8
    /// are replaced by U+FFFD (then `path_bytes_hex` carries the exact name).
    pub path: String,
    /// The exact path bytes in lowercase hex; present only when the path is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes_hex: Option<String>,
    /// Entry type.
    #[serde(rename = "type")]
    pub file_type: FileType,
    /// Permission bits including setuid/setgid/sticky, octal with at least four digits (`"0755"`,
    /// `"4755"`).
    pub mode: String,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Size in bytes (files: content length; symlinks: target length; others 0).
    pub size: u64,
    /// Modification time, RFC 3339 UTC (null when outside years 0–9999).
    pub mtime: Option<String>,
    /// `major:minor` of character and block devices, else null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Symlink target (not resolved), lossy UTF-8; null for other types.
    pub target: Option<String>,
    /// The exact target bytes in lowercase hex; present only when the target is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_bytes_hex: Option<String>,
    /// `security.capability` xattr (file capabilities) in lowercase hex, or null.
    pub capability: Option<String>,
    /// `security.selinux` label (trailing NUL removed), or null.
    pub selinux: Option<String>,
    /// overlayfs opaque directory (`trusted.overlay.opaque` or `user.overlay.opaque` is `y`).
    #[serde(default)]
    pub opaque: bool,
    /// overlayfs whiteout (0:0 character device, or an `overlay.whiteout` xattr): the entry deletes
    /// the same path of lower layers when merged.
    #[serde(default)]
    pub whiteout: bool,
    /// SHA-256 of a regular file's content, lowercase hex; null unless hashing was asked for.
    pub sha256: Option<String>,
}

/// The JSON Schema of [`FilesReport`].
pub fn files_schema_json() -> String {
    let schema = schemars::schema_for!(FilesReport);
    // `{:#}` on a JSON value is `to_string_pretty` without its `Result` (a value always prints).
    format!("{:#}\n", schema.as_value())
}
