//! The backends of a service and how a pick chooses among them.

use serde::{Deserialize, Serialize};

use crate::balance::{Backend, PoolConfig};

/// A service's backends, its balancing strategy and its optional version split:
/// what [`Registry::put_upstream`](crate::Registry::put_upstream) stores and
/// the matcher picks from for the routes leading to the service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// The service's id.
    pub service_id: String,
    /// The backends, in no particular order (identity: address and port).
    #[serde(default)]
    pub backends: Vec<Backend>,
    /// The strategy, split and seed.
    #[serde(default)]
    pub config: PoolConfig,
}

/// A gobetween server as the registry keeps it: its name and its configuration
/// as gobetween prepared it (defaults filled in).
///
/// It lands as a service of the same name with the server's backends as its
/// [`Upstream`], and a stream route of the same name on the bind port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NamedServer {
    /// The server's name.
    pub name: String,
    /// Its configuration.
    #[serde(flatten)]
    pub server: crate::dialect::gobetween::Server,
}
