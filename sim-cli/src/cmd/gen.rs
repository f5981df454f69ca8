//! `nfpath gen`: the generated dumps behind nfpath's benchmark figures, so anyone can reproduce
//! them (`sim_core::gen`). The same arguments always print the same text.

use crate::error::{print_stdout, CliError, CliResult, EXIT_OK};
use sim_core::gen::{calico, kube_proxy};
use std::path::PathBuf;

/// Print a generated iptables-save dump (kube-proxy's rules for N services, or a calico node).
#[derive(Debug, clap::Subcommand)]
#[command(after_help = "Examples:
  nfpath gen kube-proxy --services 1000 --endpoints 10 > kube-proxy-1k.rules
  nfpath gen calico --workloads 1000 --ipset ipset-save.txt > calico-1k.rules")]
pub enum Command {
    /// kube-proxy (iptables mode) rules of one node of a generated cluster
    #[command(after_help = "Example:
  nfpath gen kube-proxy --services 1000 --endpoints 10 --seed 1 > kube-proxy-1k.rules

Service port 0 is default/kubernetes; the mix of Service types (--mix realistic: some
NodePort, LoadBalancer, externalIPs, session affinity, services without endpoints) is drawn
from --seed. The figures in benches/README.md use --endpoints 10 --seed 1.")]
    KubeProxy(KubeProxyArgs),
    /// calico-felix rules (and ipsets) of one node with N workloads
    #[command(after_help = "Example:
  nfpath gen calico --workloads 1000 --seed 1 --ipset ipset-save.txt > iptables-save.txt")]
    Calico(CalicoArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Mix {
    /// Mostly ClusterIP, with a share of every special case
    Realistic,
    /// ClusterIP TCP services only, every one with all its endpoints
    ClusterIpOnly,
}

#[derive(Debug, clap::Args)]
pub struct KubeProxyArgs {
    /// Number of service ports
    #[arg(long, value_name = "N")]
    pub services: usize,
    /// Endpoints per service
    #[arg(long, value_name = "M", default_value_t = 10)]
    pub endpoints: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value = "realistic")]
    pub mix: Mix,
}

#[derive(Debug, clap::Args)]
pub struct CalicoArgs {
    /// Number of workloads (pods) on the node
    #[arg(long, value_name = "N")]
    pub workloads: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the node's `ipset save` here
    #[arg(long, value_name = "FILE")]
    pub ipset: Option<PathBuf>,
}

/// Sizes above this would take minutes and gigabytes; nobody means them by accident.
const MAX_ITEMS: usize = 2_000_000;

pub fn run(c: Command) -> CliResult<u8> {
    match c {
        Command::KubeProxy(a) => {
            if a.services == 0 || a.services.saturating_mul(a.endpoints.max(1)) > MAX_ITEMS {
                return Err(CliError::unusable(format!("--services {} --endpoints {}: expected 1 to {MAX_ITEMS} endpoints in all", a.services, a.endpoints)));
            }
            let mix = match a.mix {
                Mix::Realistic => kube_proxy::SyntheticMix::realistic(),
                Mix::ClusterIpOnly => kube_proxy::SyntheticMix::cluster_ip_only(),
            };
            print_stdout(&kube_proxy::synthetic_with(a.services, a.endpoints, a.seed, &mix).dump)?;
        }
        Command::Calico(a) => {
            if a.workloads == 0 || a.workloads > MAX_ITEMS {
                return Err(CliError::unusable(format!("--workloads {}: expected 1 to {MAX_ITEMS}", a.workloads)));
            }
            let s = calico::synthetic(a.workloads, a.seed);
            if let Some(p) = &a.ipset {
                std::fs::write(p, &s.dump.ipset).map_err(|e| CliError::io(p, "write the ipset dump", &e))?;
            }
            print_stdout(&s.dump.iptables)?;
        }
    }
    Ok(EXIT_OK)
}
