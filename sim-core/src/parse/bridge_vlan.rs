//! `bridge -j vlan show` -> the VLANs of each bridge port and bridge (iproute2 `bridge/vlan.c`:
//! one object per device with `ifname` and `vlans`, each `{"vlan": N[, "vlanEnd": M][, "flags":
//! ["PVID", "Egress Untagged"]]}`). On a kernel without bridge VLAN filtering the command prints
//! `[]`.

use crate::model::link::BridgeVlan;
use crate::parse::ip_json::{top_array, Counted, Ctx};

/// Device name -> its VLAN entries, in file order.
pub fn parse(file: &str, text: &str) -> Counted<Vec<(String, Vec<BridgeVlan>)>> {
    let mut ctx = Ctx::new(file);
    let mut out = Vec::new();
    if let Some(items) = top_array(&mut ctx, text) {
        for o in &items {
            ctx.unknown_keys(o, "vlan", &["ifname", "vlans"]);
            let Some(dev) = ctx.str_of(o, "ifname").map(str::to_string) else {
                ctx.error(o, "missing-field", "vlan entry without `ifname`: skipped");
                continue;
            };
            let mut vlans = Vec::new();
            match o.get("vlans").and_then(|v| v.arr()) {
                Some(list) => {
                    for v in list {
                        ctx.unknown_keys(v, "vlan", &["vlan", "vlanEnd", "flags", "tunid", "tunidEnd", "state", "mcast_router"]);
                        let Some(vid) = ctx.u64_of(v, "vlan").filter(|x| (1..4095).contains(x)) else {
                            ctx.bad(v, "vlan", "a VLAN id 1-4094");
                            continue;
                        };
                        let end = ctx.u64_of(v, "vlanEnd").unwrap_or(vid).clamp(vid, 4094);
                        let flags: Vec<&str> = v.get("flags").and_then(|f| f.arr()).map(|a| a.iter().filter_map(|x| x.str()).collect()).unwrap_or_default();
                        let pvid = flags.contains(&"PVID");
                        let untagged = flags.contains(&"Egress Untagged");
                        for id in vid..=end {
                            vlans.push(BridgeVlan { vid: id as u16, pvid: pvid && id == vid, untagged });
                        }
                    }
                }
                None => ctx.bad(o, "vlans", "an array"),
            }
            out.push((dev, vlans));
        }
    }
    ctx.finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges() {
        let text = r#"[{"ifname":"eth1","vlans":[{"vlan":178},{"vlan":200,"vlanEnd":202}]},{"ifname":"vmport","vlans":[{"vlan":178,"flags":["PVID","Egress Untagged"]}]}]"#;
        let p = parse("bridge-vlan.json", text);
        assert!(p.parsed.diagnostics.is_empty(), "{:?}", p.parsed.diagnostics);
        let v = p.parsed.value;
        assert_eq!(v[0].0, "eth1");
        assert_eq!(v[0].1.len(), 4);
        assert!(!v[0].1[0].pvid && !v[0].1[0].untagged);
        assert_eq!(v[1].1, vec![BridgeVlan { vid: 178, pvid: true, untagged: true }]);
        let bad = parse("f", r#"[{"ifname":"x","vlans":[{"vlan":0}]}]"#);
        assert!(!bad.parsed.diagnostics.is_empty());
    }
}
