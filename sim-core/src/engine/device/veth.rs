//! veth: a frame sent on one end is received on the peer (`drivers/net/veth.c:veth_xmit` ->
//! `__dev_forward_skb`). `skb_scrub_packet` always drops the conntrack reference and clears the
//! mark only when the peer is in another namespace (`xnet`).

use crate::engine::World;

/// The far end of a veth, and whether crossing it changes namespace.
pub struct Crossing<'w> {
    pub ns: usize,
    pub dev: &'w str,
    /// `skb_scrub_packet(skb, xnet)`: the mark is cleared iff the namespaces differ.
    pub xnet: bool,
}

/// Where a packet sent on `dev` of namespace `ns` arrives, if `dev` is a veth with a known peer.
pub fn peer<'w>(w: &'w World, ns: usize, dev: &str) -> Option<Crossing<'w>> {
    let (pns, pdev) = w.nss[ns].veth_peer.get(dev)?;
    Some(Crossing { ns: *pns, dev: pdev.as_str(), xnet: *pns != ns })
}
