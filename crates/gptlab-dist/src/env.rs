//! The standard launch environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT,
//! as torchrun, `gptlab launch`, Slurm (through a wrapper that copies SLURM_PROCID and
//! friends) and Kubeflow's PyTorchJob set them.

use crate::{Error, Result};

/// The variables that start a distributed run (LOCAL_RANK is optional: PyTorchJob runs one
/// process per pod and does not set it).
pub const REQUIRED: [&str; 4] = ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"];

/// One process's place in the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub rank: usize,
    pub world_size: usize,
    /// The process's index on its node (its GPU with CUDA); 0 when LOCAL_RANK is unset.
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    /// A launcher (torchrun's elastic agent: TORCHELASTIC_USE_AGENT_STORE=True) already hosts
    /// the store at MASTER_ADDR:MASTER_PORT, so rank 0 connects to it instead of starting one.
    pub agent_store: bool,
    /// Gloo lanes (GPTLAB_GLOO_LANES, 1 to 8, default [`DEFAULT_GLOO_LANES`]; the same on
    /// every rank, checked when the ranks meet): each network interface is opened this many
    /// times (a set of connections between every pair of ranks each time), and an all-reduce
    /// of at least [`crate::SPLIT_MIN_BYTES`] runs as this many pieces at once, which Gloo
    /// hands to different sets, so that one piece's transfer overlaps another's sum. Unused
    /// with NCCL.
    pub gloo_lanes: usize,
}

/// Gloo connection sets by default: two, so that a large all-reduce's pieces overlap.
pub const DEFAULT_GLOO_LANES: usize = 2;

fn parse<T: std::str::FromStr>(name: &'static str, value: &str, what: &str) -> Result<T> {
    value.trim().parse().map_err(|_| Error::Env { var: name, msg: format!("{value:?} is not {what}") })
}

/// GPTLAB_GLOO_LANES's range, 1 to 8.
pub(crate) fn check_lanes(lanes: usize) -> Result<()> {
    if (1..=8).contains(&lanes) {
        Ok(())
    } else {
        Err(Error::Env { var: "GPTLAB_GLOO_LANES", msg: format!("{lanes} is not from 1 to 8") })
    }
}

impl DistEnv {
    /// Reads the environment through `get`: `None` when none of [`REQUIRED`] is set (a
    /// single-process run), an error naming the missing or malformed variables when the set
    /// is incomplete or inconsistent.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let vals: Vec<Option<String>> = REQUIRED.iter().map(|k| get(k).filter(|v| !v.trim().is_empty())).collect();
        if vals.iter().all(Option::is_none) {
            if get("LOCAL_RANK").is_some() {
                return Err(Error::Env { var: "RANK", msg: "LOCAL_RANK is set but RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT are not".into() });
            }
            return Ok(None);
        }
        let missing: Vec<&str> = REQUIRED.iter().zip(&vals).filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
        if let Some(first) = missing.first() {
            let set: Vec<&str> = REQUIRED.iter().zip(&vals).filter(|(_, v)| v.is_some()).map(|(k, _)| *k).collect();
            return Err(Error::Env { var: first, msg: format!("the distributed environment is half set: {} set but {} missing", set.join(", "), missing.join(", ")) });
        }
        let v = |i: usize| vals[i].clone().unwrap_or_default();
        let rank: usize = parse("RANK", &v(0), "a non-negative integer")?;
        let world_size: usize = parse("WORLD_SIZE", &v(1), "a positive integer")?;
        if world_size == 0 {
            return Err(Error::Env { var: "WORLD_SIZE", msg: "must be at least 1".into() });
        }
        if rank >= world_size {
            return Err(Error::Env { var: "RANK", msg: format!("{rank} is not below WORLD_SIZE {world_size}") });
        }
        let master_port: u16 = parse("MASTER_PORT", &v(3), "a TCP port (1-65535)")?;
        if master_port == 0 {
            return Err(Error::Env { var: "MASTER_PORT", msg: "0 is not a TCP port a peer can reach".into() });
        }
        let local_rank = match get("LOCAL_RANK").filter(|s| !s.trim().is_empty()) {
            Some(s) => parse("LOCAL_RANK", &s, "a non-negative integer")?,
            None => 0,
        };
        let agent_store = get("TORCHELASTIC_USE_AGENT_STORE").as_deref() == Some("True");
        let gloo_lanes = match get("GPTLAB_GLOO_LANES").filter(|s| !s.trim().is_empty()) {
            Some(s) => parse("GPTLAB_GLOO_LANES", &s, "an integer from 1 to 8")?,
            None => DEFAULT_GLOO_LANES,
        };
        check_lanes(gloo_lanes)?;
        Ok(Some(Self { rank, world_size, local_rank, master_addr: v(2).trim().to_string(), master_port, agent_store, gloo_lanes }))
    }

    /// [`Self::from_vars`] over the process environment.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_vars(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<DistEnv>> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DistEnv::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn unset_is_single_process_and_full_set_parses() {
        assert_eq!(env(&[]).expect("empty"), None);
        let e = env(&[("RANK", "1"), ("WORLD_SIZE", "4"), ("MASTER_ADDR", "10.0.0.1"), ("MASTER_PORT", "29500"), ("LOCAL_RANK", "1")]).expect("ok").expect("some");
        assert_eq!((e.rank, e.world_size, e.local_rank, e.master_addr.as_str(), e.master_port, e.agent_store), (1, 4, 1, "10.0.0.1", 29500, false));
        let e = env(&[("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "1"), ("TORCHELASTIC_USE_AGENT_STORE", "True")]).expect("ok").expect("some");
        assert_eq!((e.local_rank, e.agent_store, e.gloo_lanes), (0, true, DEFAULT_GLOO_LANES));
        let e = env(&[("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "1"), ("GPTLAB_GLOO_LANES", "3")]).expect("ok").expect("some");
        assert_eq!(e.gloo_lanes, 3);
    }

    #[test]
    fn half_set_or_bad_values_name_the_variable() {
        let msg = |pairs: &[(&str, &str)]| env(pairs).expect_err("must fail").to_string();
        let m = msg(&[("RANK", "0"), ("WORLD_SIZE", "2")]);
        assert!(m.contains("MASTER_ADDR") && m.contains("MASTER_PORT") && m.contains("half set"), "{m}");
        let m = msg(&[("LOCAL_RANK", "0")]);
        assert!(m.contains("LOCAL_RANK") && m.contains("RANK"), "{m}");
        let full = |rank: &str, ws: &str, port: &str| msg(&[("RANK", rank), ("WORLD_SIZE", ws), ("MASTER_ADDR", "h"), ("MASTER_PORT", port)]);
        assert!(full("2", "2", "1").contains("RANK"), "rank must be below the world size");
        assert!(full("x", "2", "1").contains("RANK"));
        assert!(full("0", "0", "1").contains("WORLD_SIZE"));
        assert!(full("0", "2", "99999").contains("MASTER_PORT"));
        assert!(full("0", "2", "0").contains("MASTER_PORT"));
        for lanes in ["0", "9", "two"] {
            let m = msg(&[("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "1"), ("GPTLAB_GLOO_LANES", lanes)]);
            assert!(m.contains("GPTLAB_GLOO_LANES"), "{m}");
        }
    }
}
