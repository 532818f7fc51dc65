//! GPT Discoverable Disk Images (placeholder, filled in by the image-reader work).
use std::sync::Arc;

use crate::fsimage::{FsError, OpenedImage};
use crate::readat::ReadAt;

/// Partition layout of a DDI.
#[derive(Debug, Clone, Default)]
pub struct Ddi {}

/// Opens any raw image.
pub fn open_any(_src: Arc<dyn ReadAt>, _arch: &str) -> Result<OpenedImage, FsError> {
    Err(FsError::UnknownFormat)
}
