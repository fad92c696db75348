//! runlog-sync: the wire format, the sync agent and the workspace server.
