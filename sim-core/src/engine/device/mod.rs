//! Devices the engine moves packets through. Only veth pairs in this issue; bridges, VXLAN and
//! IPIP come later (a packet sent on any other device leaves the model, `Disposition::Exited`).

pub mod veth;
