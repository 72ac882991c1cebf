//! libarmrest.so (being written).
