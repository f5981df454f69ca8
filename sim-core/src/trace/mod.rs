//! Traces: what the engine reports. `FlowResult -> Outcome -> Step`, with a closed list of
//! dispositions and drop reasons (interface.md §4). Renderers (text, JSON, DOT) live beside it
//! and know nothing of how the engine computed a trace.

pub mod render;

use crate::model::packet::Packet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What the client's socket reports (interface.md §3). Serialised as the contract's strings
/// (`connected`, `error:ENETUNREACH`, ...).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientResult {
    Connected,
    Refused,
    Timeout,
    /// The sending host refused: `ENETUNREACH`, `EHOSTUNREACH`, `EPERM`, `EINVAL`, `EACCES`...
    Error(String),
    /// The engine could not decide (an unsupported match, target or device on the path).
    Indeterminate,
}

impl Serialize for ClientResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for ClientResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ClientResult::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a client result: {s:?}")))
    }
}

impl ClientResult {
    pub fn as_string(&self) -> String {
        match self {
            ClientResult::Connected => "connected".into(),
            ClientResult::Refused => "refused".into(),
            ClientResult::Timeout => "timeout".into(),
            ClientResult::Error(e) => format!("error:{e}"),
            ClientResult::Indeterminate => "indeterminate".into(),
        }
    }
    pub fn parse(s: &str) -> Option<ClientResult> {
        Some(match s {
            "connected" => ClientResult::Connected,
            "refused" => ClientResult::Refused,
            "timeout" => ClientResult::Timeout,
            "indeterminate" => ClientResult::Indeterminate,
            e => ClientResult::Error(e.strip_prefix("error:")?.to_string()),
        })
    }
}

/// Where a packet's walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disposition {
    /// Delivered to a local socket.
    Delivered,
    /// Dropped (see the reason).
    Dropped,
    /// Answered with an ICMP error or a TCP reset.
    Rejected,
    /// Left the model (an uplink with nothing modelled behind it).
    Exited,
    /// The engine could not decide.
    Indeterminate,
}

/// The closed list of drop reasons (interface.md §4). Extend only with a note on the issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    Rule,
    Policy,
    NoRoute,
    Blackhole,
    UnreachableRoute,
    Prohibit,
    RpFilter,
    ForwardingDisabled,
    TtlExpired,
    BridgeHairpin,
    NoNeighbour,
    UnderlayUnreachable,
    NoListener,
    CtInvalid,
    Martian,
    OtherHost,
    NatFailed,
    Loop,
    /// A security-group style allow list of the underlay (cluster file) refused the packet.
    UnderlayFilter,
    /// A bridge port that is not forwarding (`learning`, `blocking`, `disabled`, `listening`).
    BridgePortState,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Rule => "rule",
            DropReason::Policy => "policy",
            DropReason::NoRoute => "no-route",
            DropReason::Blackhole => "blackhole",
            DropReason::UnreachableRoute => "unreachable-route",
            DropReason::Prohibit => "prohibit",
            DropReason::RpFilter => "rp-filter",
            DropReason::ForwardingDisabled => "forwarding-disabled",
            DropReason::TtlExpired => "ttl-expired",
            DropReason::BridgeHairpin => "bridge-hairpin",
            DropReason::NoNeighbour => "no-neighbour",
            DropReason::UnderlayUnreachable => "underlay-unreachable",
            DropReason::NoListener => "no-listener",
            DropReason::CtInvalid => "ct-invalid",
            DropReason::Martian => "martian",
            DropReason::OtherHost => "other-host",
            DropReason::NatFailed => "nat-failed",
            DropReason::Loop => "loop",
            DropReason::UnderlayFilter => "underlay-filter",
            DropReason::BridgePortState => "bridge-port-state",
        }
    }
}

/// One step of a walk, naming its kernel place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub ns: String,
    #[serde(flatten)]
    pub kind: StepKind,
    /// The packet after this step, when the step changed it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub packet_after: Option<Packet>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepKind {
    /// A rule that matched (or a policy that applied) in a netfilter chain.
    Netfilter {
        hook: String,
        table: String,
        chain: String,
        /// 1-based rule number in the chain; 0 for the policy.
        rule: u32,
        line: u32,
        file: String,
        text: String,
        verdict: String,
    },
    /// A routing decision.
    Route { table: String, route: String, result: String },
    /// A policy-routing rule that selected a table.
    FibRule { priority: u32, text: String },
    /// A device did something (sent, received, bridged, encapsulated).
    Device { dev: String, action: String },
    /// Conntrack looked up or created an entry.
    Conntrack { state: String, orig: String, reply: String },
    /// Anything else worth saying (an assumption, a sysctl consulted).
    Note { text: String },
}

/// The headers a receiver saw.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Seen {
    pub src: String,
    pub dst: String,
    pub proto: String,
}

/// One distinct way a flow can end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub probability: f64,
    pub result: ClientResult,
    /// The namespace that received the request, if any.
    pub at: Option<String>,
    pub seen: Option<Seen>,
    pub disposition: Disposition,
    pub reason: Option<DropReason>,
    /// For indeterminate outcomes: what could not be evaluated, with file and line.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub indeterminate: Option<String>,
    /// One plain sentence: what happened and why.
    pub summary: String,
    pub steps: Vec<Step>,
}

/// Every distinct outcome of one flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowResult {
    pub flow: String,
    pub outcomes: Vec<Outcome>,
}
