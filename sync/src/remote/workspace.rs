//! runlog workspace server remote (in progress).
