//! Sync: model adapters, the event outbox and its delivery worker, inbound Attio record mapping (owned by the PLUGIN-SYNC engineer).
