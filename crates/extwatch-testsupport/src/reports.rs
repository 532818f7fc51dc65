//! Typed reports for tests: extwatch's JSON parsed into the `extwatch-model` types it is serialised
//! from, so an assertion names a field the compiler knows (`r.image(p).signature.status`) instead of
//! indexing untyped JSON (`v["images"][0]["signature"]["status"]`) that silently yields `null` when a
//! field is renamed. A raw `serde_json::Value` stays only where a test is about the raw shape.

use extwatch_model::{
    CheckRun, FilesReport, Finding, Hierarchy, Image, Report, VerifiedImage, VerifyReport,
};
use serde::de::DeserializeOwned;

/// Parses stdout as `T`; the panic shows the start of stdout and stderr.
pub fn parse<T: DeserializeOwned>(stdout: &[u8], stderr: &str) -> T {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a {} ({e}): {}\nstderr: {stderr}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&stdout[..stdout.len().min(2000)])
        )
    })
}

/// An `audit`/`inventory --format json` report.
pub fn report(stdout: &[u8], stderr: &str) -> Report {
    let r: Report = parse(stdout, stderr);
    assert_eq!(r.schema, extwatch_model::SCHEMA);
    r
}

/// A `verify --format json` report.
pub fn verify_report(stdout: &[u8], stderr: &str) -> VerifyReport {
    parse(stdout, stderr)
}

/// A `files --format json` report.
pub fn files_report(stdout: &[u8], stderr: &str) -> FilesReport {
    parse(stdout, stderr)
}

/// Look-ups the tests make over a [`Report`].
pub trait ReportExt {
    /// The image at `path` (as reported: inside the root); panics with the paths there are.
    fn image(&self, path: &str) -> &Image;
    /// The findings with check id `id`.
    fn findings(&self, id: &str) -> Vec<&Finding>;
    /// True when a finding `id` has `evidence.path == path`.
    fn has_finding(&self, path: &str, id: &str) -> bool;
    /// The hierarchy (`/usr`, `/opt`, `/etc`); panics when absent.
    fn hierarchy(&self, hierarchy: &str) -> &Hierarchy;
    /// The outcome of check `id`; panics when absent.
    fn check(&self, id: &str) -> &CheckRun;
    /// Every image path.
    fn paths(&self) -> Vec<&str>;
}

impl ReportExt for Report {
    fn image(&self, path: &str) -> &Image {
        self.images
            .iter()
            .find(|i| i.path == path)
            .unwrap_or_else(|| panic!("no image at {path}; images: {:?}", self.paths()))
    }

    fn findings(&self, id: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.id == id).collect()
    }

    fn has_finding(&self, path: &str, id: &str) -> bool {
        self.findings
            .iter()
            .any(|f| f.id == id && f.evidence.get("path").and_then(|p| p.as_str()) == Some(path))
    }

    fn hierarchy(&self, hierarchy: &str) -> &Hierarchy {
        self.hierarchies
            .iter()
            .find(|h| h.hierarchy == hierarchy)
            .unwrap_or_else(|| panic!("no hierarchy {hierarchy}: {:#?}", self.hierarchies))
    }

    fn check(&self, id: &str) -> &CheckRun {
        self.checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id} in the report"))
    }

    fn paths(&self) -> Vec<&str> {
        self.images.iter().map(|i| i.path.as_str()).collect()
    }
}

/// The single image of a `verify` run on one file.
pub fn only_image(r: VerifyReport) -> VerifiedImage {
    assert_eq!(r.images.len(), 1, "one image expected: {r:#?}");
    r.images.into_iter().next().expect("one image")
}
