//! Kafka wire protocol: size-delimited requests and responses.
//!
//! ```text
//!  request:  ┌─────────────────┬──────────┬─────────────┬────────────────┬─────┐
//!            │ size (i32 BE)   │ api key  │ api version │ correlation id │ ... │
//!            └─────────────────┴──────────┴─────────────┴────────────────┴─────┘
//!  response: ┌─────────────────┬────────────────┬─────┐
//!            │ size (i32 BE)   │ correlation id │ ... │
//!            └─────────────────┴────────────────┴─────┘
//! ```
//!
//! One message is the size field and the `size` bytes after it; `size` must
//! cover the header (8 bytes for a request, 4 for a response). Label: the
//! request's API name (`Produce`, `Fetch`, `Metadata`, ... or `api-N`);
//! responses carry no type and get no label.

use super::framed::{be, Bad, Framed, Framing, Inspect};
use crate::decode::{Decoder, Label};

/// The decoders of one connection: `[requests, responses]`.
pub(super) fn pair(max_frame: u64) -> [Box<dyn Decoder>; 2] {
    [
        Box::new(Framed::new(Kafka { request: true }, max_frame)),
        Box::new(Framed::new(Kafka { request: false }, max_frame)),
    ]
}

struct Kafka {
    request: bool,
}

const API_NAMES: &[&str] = &[
    "Produce",
    "Fetch",
    "ListOffsets",
    "Metadata",
    "LeaderAndIsr",
    "StopReplica",
    "UpdateMetadata",
    "ControlledShutdown",
    "OffsetCommit",
    "OffsetFetch",
    "FindCoordinator",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "SaslHandshake",
    "ApiVersions",
    "CreateTopics",
    "DeleteTopics",
    "DeleteRecords",
    "InitProducerId",
    "OffsetForLeaderEpoch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "WriteTxnMarkers",
    "TxnOffsetCommit",
    "DescribeAcls",
    "CreateAcls",
    "DeleteAcls",
    "DescribeConfigs",
    "AlterConfigs",
    "AlterReplicaLogDirs",
    "DescribeLogDirs",
    "SaslAuthenticate",
    "CreatePartitions",
    "CreateDelegationToken",
    "RenewDelegationToken",
    "ExpireDelegationToken",
    "DescribeDelegationToken",
    "DeleteGroups",
    "ElectLeaders",
    "IncrementalAlterConfigs",
    "AlterPartitionReassignments",
    "ListPartitionReassignments",
    "OffsetDelete",
];

impl Framing for Kafka {
    fn begin(&mut self) -> usize {
        4
    }

    fn inspect(&mut self, head: &[u8]) -> Result<Inspect, Bad> {
        let size = be(head, 0, 4);
        let min = if self.request { 8 } else { 4 };
        if size >> 31 != 0 {
            return Err(Bad::length(
                0,
                i128::from(size as u32 as i32),
                "negative size",
            ));
        }
        if size < min {
            return Err(Bad::length(0, size, "size smaller than the Kafka header"));
        }
        if !self.request {
            return Ok(Inspect::Body {
                len: size,
                label: None,
            });
        }
        if head.len() == 4 {
            return Ok(Inspect::More(6));
        }
        let key = be(head, 4, 2);
        let label = match usize::try_from(key).ok().and_then(|k| API_NAMES.get(k)) {
            Some(name) => Label::new(name),
            None => Label::new(&format!("api-{key}")),
        };
        Ok(Inspect::Body {
            len: size - 2,
            label: Some(label),
        })
    }
}
