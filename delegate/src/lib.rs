//! armrest engine (being written).
