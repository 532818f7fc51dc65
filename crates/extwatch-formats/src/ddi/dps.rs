//! The Discoverable Partitions Specification partition types (UAPI.2) and the role each plays.

use super::{ESP, LINUX_GENERIC};

/// What a Discoverable Partitions Specification type is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Designator {
    /// Root file system.
    Root,
    /// `/usr` file system.
    Usr,
    /// dm-verity hash data of the root partition.
    RootVerity,
    /// dm-verity hash data of the usr partition.
    UsrVerity,
    /// Signature (JSON + PKCS#7) of the root partition's verity root hash.
    RootVeritySig,
    /// Signature of the usr partition's verity root hash.
    UsrVeritySig,
}

/// Discoverable Partitions Specification types: (type GUID, systemd architecture, designator).
/// Generated from systemd 257's `systemd-id128 show`.
pub const DPS_TYPES: &[(&str, &str, Designator)] = &[
    (
        "69dad710-2ce4-4e3c-b16c-21a1d49abed3",
        "arm",
        Designator::Root,
    ),
    (
        "7386cdf2-203c-47a9-a498-f2ecce45a2d6",
        "arm",
        Designator::RootVerity,
    ),
    (
        "42b0455f-eb11-491d-98d3-56145ba9d037",
        "arm",
        Designator::RootVeritySig,
    ),
    (
        "7d0359a3-02b3-4f0a-865c-654403e70625",
        "arm",
        Designator::Usr,
    ),
    (
        "c215d751-7bcd-4649-be90-6627490a4c05",
        "arm",
        Designator::UsrVerity,
    ),
    (
        "d7ff812f-37d1-4902-a810-d76ba57b975a",
        "arm",
        Designator::UsrVeritySig,
    ),
    (
        "b921b045-1df0-41c3-af44-4c6f280d3fae",
        "arm64",
        Designator::Root,
    ),
    (
        "df3300ce-d69f-4c92-978c-9bfb0f38d820",
        "arm64",
        Designator::RootVerity,
    ),
    (
        "6db69de6-29f4-4758-a7a5-962190f00ce3",
        "arm64",
        Designator::RootVeritySig,
    ),
    (
        "b0e01050-ee5f-4390-949a-9101b17104e9",
        "arm64",
        Designator::Usr,
    ),
    (
        "6e11a4e7-fbca-4ded-b9e9-e1a512bb664e",
        "arm64",
        Designator::UsrVerity,
    ),
    (
        "c23ce4ff-44bd-4b00-b2d4-b41b3419e02a",
        "arm64",
        Designator::UsrVeritySig,
    ),
    (
        "77055800-792c-4f94-b39a-98c91b762bb6",
        "loongarch64",
        Designator::Root,
    ),
    (
        "f3393b22-e9af-4613-a948-9d3bfbd0c535",
        "loongarch64",
        Designator::RootVerity,
    ),
    (
        "5afb67eb-ecc8-4f85-ae8e-ac1e7c50e7d0",
        "loongarch64",
        Designator::RootVeritySig,
    ),
    (
        "e611c702-575c-4cbe-9a46-434fa0bf7e3f",
        "loongarch64",
        Designator::Usr,
    ),
    (
        "f46b2c26-59ae-48f0-9106-c50ed47f673d",
        "loongarch64",
        Designator::UsrVerity,
    ),
    (
        "b024f315-d330-444c-8461-44bbde524e99",
        "loongarch64",
        Designator::UsrVeritySig,
    ),
    (
        "c31c45e6-3f39-412e-80fb-4809c4980599",
        "ppc64-le",
        Designator::Root,
    ),
    (
        "906bd944-4589-4aae-a4e4-dd983917446a",
        "ppc64-le",
        Designator::RootVerity,
    ),
    (
        "d4a236e7-e873-4c07-bf1d-bf6cf7f1c3c6",
        "ppc64-le",
        Designator::RootVeritySig,
    ),
    (
        "15bb03af-77e7-4d4a-b12b-c0d084f7491c",
        "ppc64-le",
        Designator::Usr,
    ),
    (
        "ee2b9983-21e8-4153-86d9-b6901a54d1ce",
        "ppc64-le",
        Designator::UsrVerity,
    ),
    (
        "c8bfbd1e-268e-4521-8bba-bf314c399557",
        "ppc64-le",
        Designator::UsrVeritySig,
    ),
    (
        "72ec70a6-cf74-40e6-bd49-4bda08e8f224",
        "riscv64",
        Designator::Root,
    ),
    (
        "b6ed5582-440b-4209-b8da-5ff7c419ea3d",
        "riscv64",
        Designator::RootVerity,
    ),
    (
        "efe0f087-ea8d-4469-821a-4c2a96a8386a",
        "riscv64",
        Designator::RootVeritySig,
    ),
    (
        "beaec34b-8442-439b-a40b-984381ed097d",
        "riscv64",
        Designator::Usr,
    ),
    (
        "8f1056be-9b05-47c4-81d6-be53128e5b54",
        "riscv64",
        Designator::UsrVerity,
    ),
    (
        "d2f9000a-7a18-453f-b5cd-4d32f77a7b32",
        "riscv64",
        Designator::UsrVeritySig,
    ),
    (
        "5eead9a9-fe09-4a1e-a1d7-520d00531306",
        "s390x",
        Designator::Root,
    ),
    (
        "b325bfbe-c7be-4ab8-8357-139e652d2f6b",
        "s390x",
        Designator::RootVerity,
    ),
    (
        "c80187a5-73a3-491a-901a-017c3fa953e9",
        "s390x",
        Designator::RootVeritySig,
    ),
    (
        "8a4f5770-50aa-4ed3-874a-99b710db6fea",
        "s390x",
        Designator::Usr,
    ),
    (
        "31741cc4-1a2a-4111-a581-e00b447d2d06",
        "s390x",
        Designator::UsrVerity,
    ),
    (
        "3f324816-667b-46ae-86ee-9b0c0c6c11b4",
        "s390x",
        Designator::UsrVeritySig,
    ),
    (
        "44479540-f297-41b2-9af7-d131d5f0458a",
        "x86",
        Designator::Root,
    ),
    (
        "d13c5d3b-b5d1-422a-b29f-9454fdc89d76",
        "x86",
        Designator::RootVerity,
    ),
    (
        "5996fc05-109c-48de-808b-23fa0830b676",
        "x86",
        Designator::RootVeritySig,
    ),
    (
        "75250d76-8cc6-458e-bd66-bd47cc81a812",
        "x86",
        Designator::Usr,
    ),
    (
        "8f461b0d-14ee-4e81-9aa9-049b6fb97abd",
        "x86",
        Designator::UsrVerity,
    ),
    (
        "974a71c0-de41-43c3-be5d-5c5ccd1ad2c0",
        "x86",
        Designator::UsrVeritySig,
    ),
    (
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
        "x86-64",
        Designator::Root,
    ),
    (
        "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
        "x86-64",
        Designator::RootVerity,
    ),
    (
        "41092b05-9fc8-4523-994f-2def0408b176",
        "x86-64",
        Designator::RootVeritySig,
    ),
    (
        "8484680c-9521-48c6-9c11-b0720656f69e",
        "x86-64",
        Designator::Usr,
    ),
    (
        "77ff5f63-e7b6-4633-acf4-1565b864c0e6",
        "x86-64",
        Designator::UsrVerity,
    ),
    (
        "e7bb33fb-06cf-4e81-8273-e543b413e2e2",
        "x86-64",
        Designator::UsrVeritySig,
    ),
];

/// Role of a partition according to our DPS table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionRole {
    /// A DPS type for an architecture (`x86-64`, `arm64`, ...).
    Dps {
        /// Root, usr, verity or verity signature.
        designator: Designator,
        /// systemd architecture name.
        arch: &'static str,
    },
    /// Generic Linux data (0fc63daf-…).
    LinuxGeneric,
    /// EFI System Partition.
    Esp,
    /// Any other type.
    Other,
}

impl PartitionRole {
    /// Classifies a canonical lowercase type GUID.
    pub fn from_type_guid(guid: &str) -> PartitionRole {
        if guid == LINUX_GENERIC {
            return PartitionRole::LinuxGeneric;
        }
        if guid == ESP {
            return PartitionRole::Esp;
        }
        DPS_TYPES
            .iter()
            .find(|(g, _, _)| *g == guid)
            .map(|&(_, arch, designator)| PartitionRole::Dps { designator, arch })
            .unwrap_or(PartitionRole::Other)
    }
}
