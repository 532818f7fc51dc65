//! erofs reader (placeholder).
