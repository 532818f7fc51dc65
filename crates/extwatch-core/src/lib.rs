//! extwatch core (in progress).
