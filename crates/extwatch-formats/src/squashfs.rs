//! squashfs reader (placeholder).
