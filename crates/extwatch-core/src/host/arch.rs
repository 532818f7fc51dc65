//! systemd's architecture names (`architecture_to_string()` in `src/basic/architecture.c`): the
//! `ARCHITECTURE=` an extension-release must match and the `_ARCH` suffixes of DDI partition types.
//! Interned as `&'static str` so the rest of the engine compares names, not strings it allocated.

/// systemd's architecture names (`architecture_to_string()`).
pub const ARCHITECTURES: &[&str] = &[
    "x86",
    "x86-64",
    "ppc",
    "ppc-le",
    "ppc64",
    "ppc64-le",
    "ia64",
    "parisc",
    "parisc64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "mips",
    "mips-le",
    "mips64",
    "mips64-le",
    "alpha",
    "arm",
    "arm-be",
    "arm64",
    "arm64-be",
    "sh",
    "sh64",
    "m68k",
    "tilegx",
    "cris",
    "nios2",
    "riscv32",
    "riscv64",
    "arc",
    "arc-be",
    "loongarch64",
];

/// systemd's name for the architecture extwatch runs on (`uname_architecture()`).
pub fn native_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86-64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64-le",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loongarch64",
        "mips64" => "mips64",
        _ => "unknown",
    }
}

/// Interns an architecture name given on the command line.
pub fn architecture_name(s: &str) -> Option<&'static str> {
    ARCHITECTURES.iter().copied().find(|a| *a == s)
}
