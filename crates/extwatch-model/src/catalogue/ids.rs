//! The stable id of every check, as a constant: code names a check through these, so a typo is a
//! compile error instead of a lookup that fails at run time. Ids are a contract (kebab-case; add,
//! never rename) and each has exactly one entry in [`super::CATALOGUE`].

/// `extension-merged`.
pub const EXTENSION_MERGED: &str = "extension-merged";

/// `extension-directory-image`.
pub const EXTENSION_DIRECTORY_IMAGE: &str = "extension-directory-image";

/// `extension-release-any`.
pub const EXTENSION_RELEASE_ANY: &str = "extension-release-any";

/// `extension-release-mismatch`.
pub const EXTENSION_RELEASE_MISMATCH: &str = "extension-release-mismatch";

/// `extension-missing-release`.
pub const EXTENSION_MISSING_RELEASE: &str = "extension-missing-release";

/// `extension-ships-os-release`.
pub const EXTENSION_SHIPS_OS_RELEASE: &str = "extension-ships-os-release";

/// `extension-malformed`.
pub const EXTENSION_MALFORMED: &str = "extension-malformed";

/// `image-outside-search-path`.
pub const IMAGE_OUTSIDE_SEARCH_PATH: &str = "image-outside-search-path";

/// `special-file-in-search-path`.
pub const SPECIAL_FILE_IN_SEARCH_PATH: &str = "special-file-in-search-path";

/// `runtime-extension`.
pub const RUNTIME_EXTENSION: &str = "runtime-extension";

/// `mutable-extension-mode`.
pub const MUTABLE_EXTENSION_MODE: &str = "mutable-extension-mode";

/// `merge-foreign-overlay`.
pub const MERGE_FOREIGN_OVERLAY: &str = "merge-foreign-overlay";

/// `portable-image-present`.
pub const PORTABLE_IMAGE_PRESENT: &str = "portable-image-present";

/// `extension-unsigned`.
pub const EXTENSION_UNSIGNED: &str = "extension-unsigned";

/// `extension-no-verity`.
pub const EXTENSION_NO_VERITY: &str = "extension-no-verity";

/// `extension-signature-invalid`.
pub const EXTENSION_SIGNATURE_INVALID: &str = "extension-signature-invalid";

/// `extension-verity-mismatch`.
pub const EXTENSION_VERITY_MISMATCH: &str = "extension-verity-mismatch";

/// `trust-store-ignored-files`.
pub const TRUST_STORE_IGNORED_FILES: &str = "trust-store-ignored-files";

/// `policy-allows-unsigned`.
pub const POLICY_ALLOWS_UNSIGNED: &str = "policy-allows-unsigned";

/// `policy-verity-fallback`.
pub const POLICY_VERITY_FALLBACK: &str = "policy-verity-fallback";

/// `extension-shadows-base`.
pub const EXTENSION_SHADOWS_BASE: &str = "extension-shadows-base";

/// `extension-overrides-extension`.
pub const EXTENSION_OVERRIDES_EXTENSION: &str = "extension-overrides-extension";

/// `extension-adds-executable`.
pub const EXTENSION_ADDS_EXECUTABLE: &str = "extension-adds-executable";

/// `extension-setuid`.
pub const EXTENSION_SETUID: &str = "extension-setuid";

/// `extension-adds-unit`.
pub const EXTENSION_ADDS_UNIT: &str = "extension-adds-unit";

/// `extension-implausible-size`.
pub const EXTENSION_IMPLAUSIBLE_SIZE: &str = "extension-implausible-size";

/// `confext-sensitive-config`.
pub const CONFEXT_SENSITIVE_CONFIG: &str = "confext-sensitive-config";
