//! Starting etcd, kube-apiserver, kube-scheduler and kube-controller-manager on
//! 127.0.0.1, each in a fresh run directory, and the clients that talk to them.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::PostParams;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::certs::{CertAuthority, CertPair, ServiceAccountKey};
use crate::process::{self, ManagedProcess, log_tail};

/// The binaries the control plane runs, looked up in [`bin_dir`].
pub const BINARIES: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-scheduler",
    "kube-controller-manager",
];

/// The service network; its first address is the `kubernetes` Service's ClusterIP and
/// so a SAN of the API server's certificate.
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.0.0.0/24";
const KUBERNETES_SERVICE_IP: &str = "10.0.0.1";

/// The `iss` of service-account tokens (what kubeadm uses); only compared, never dialled.
const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// kube-controller-manager's controllers: all the default ones except node-lifecycle
/// (it would mark the kubelet-less nodes NotReady/unreachable, taint them and evict
/// their pods) and node-ipam (it allocates pod CIDRs to nodes, which nothing here uses;
/// it is inert without --allocate-node-cidrs anyway). The cloud-provider controllers
/// (service-lb, node-route, cloud-node-lifecycle) are skipped by kube-controller-manager
/// itself since 1.31. Names: cmd/kube-controller-manager/names/controller_names.go.
const CONTROLLERS: &str = "*,-node-lifecycle-controller,-node-ipam-controller";

/// Bounded waits of the start.
const ETCD_TIMEOUT: Duration = Duration::from_secs(60);
const API_SERVER_TIMEOUT: Duration = Duration::from_secs(60);
const COMPONENT_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

static RUN_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The workspace root (two levels above this crate).
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// Where the binaries are: `$CONTROL_PLANE_BIN`, else `<workspace>/target/control-plane/bin`
/// (where `make control-plane-bin` puts them).
pub fn bin_dir() -> PathBuf {
    match std::env::var_os("CONTROL_PLANE_BIN") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_dir().join("target/control-plane/bin"),
    }
}

/// The path of each binary, or an error naming the first missing one.
pub fn find_binaries() -> Result<[PathBuf; 4]> {
    let dir = bin_dir();
    let mut found = Vec::with_capacity(BINARIES.len());
    for name in BINARIES {
        let path = dir.join(name);
        if !path.is_file() {
            bail!(
                "control-plane binary {} is missing: run `make control-plane-bin` to build \
                 etcd, kube-apiserver, kube-scheduler and kube-controller-manager into \
                 target/control-plane/bin (or point CONTROL_PLANE_BIN at a directory that \
                 holds them)",
                path.display()
            );
        }
        found.push(path);
    }
    found
        .try_into()
        .map_err(|_| anyhow!("internal error: expected {} binaries", BINARIES.len()))
}

/// A running control plane. Dropping it kills every process and removes the run
/// directory (kept, with its logs, when the thread is panicking or when
/// `CONTROL_PLANE_KEEP` is set).
pub struct ControlPlane {
    run_dir: PathBuf,
    // Killed in reverse start order on drop (see Drop).
    processes: Vec<ManagedProcess>,
    ca: CertAuthority,
    api_url: String,
    etcd_url: String,
    admin_kubeconfig: PathBuf,
    admin_config: Config,
    client: Client,
    started_in: Duration,
    keep_run_dir: bool,
}

struct Ports {
    etcd_client: u16,
    etcd_peer: u16,
    api_server: u16,
    scheduler: u16,
    controller_manager: u16,
}

/// A start in progress: owns the processes so that a failed start kills them (Drop)
/// and keeps the directory for its logs.
struct Starting {
    run_dir: PathBuf,
    processes: Vec<ManagedProcess>,
}

impl Starting {
    fn get(&mut self, name: &str) -> Result<&mut ManagedProcess> {
        self.processes
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| anyhow!("internal error: no process {name}"))
    }

    fn check_all_running(&mut self) -> Result<()> {
        for p in &mut self.processes {
            p.check_running()?;
        }
        Ok(())
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        for p in self.processes.iter_mut().rev() {
            p.kill();
        }
    }
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver, kube-scheduler and kube-controller-manager and waits
    /// until the API server is ready, the scheduler and the controller-manager answer
    /// `/healthz`, and the ServiceAccount controller has made `default/default`.
    pub async fn start() -> Result<Self> {
        let begun = Instant::now();
        let bins = find_binaries()?;
        let runs_root = workspace_dir().join("target/control-plane/run");
        fs::create_dir_all(&runs_root)
            .with_context(|| format!("creating {}", runs_root.display()))?;
        process::reap_orphans(&runs_root);
        let run_dir = runs_root.join(format!(
            "{}-{}",
            std::process::id(),
            RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if run_dir.exists() {
            fs::remove_dir_all(&run_dir)
                .with_context(|| format!("removing the stale {}", run_dir.display()))?;
        }
        fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        let mut starting = Starting {
            run_dir: run_dir.clone(),
            processes: Vec::new(),
        };
        match Self::start_in(&mut starting, &bins, begun).await {
            Ok(mut cp) => {
                cp.processes = std::mem::take(&mut starting.processes);
                Ok(cp)
            }
            Err(e) => {
                drop(starting);
                Err(e.context(format!(
                    "starting the control plane failed; logs kept in {}",
                    run_dir.display()
                )))
            }
        }
    }

    async fn start_in(
        starting: &mut Starting,
        bins: &[PathBuf; 4],
        begun: Instant,
    ) -> Result<Self> {
        let dir = starting.run_dir.clone();
        let [etcd_bin, apiserver_bin, scheduler_bin, kcm_bin] = bins;
        let ports = free_ports()?;

        // Certificates and keys.
        let ca = CertAuthority::new("control-plane-ca")?;
        let apiserver_cert = ca.issue_serving(
            "kube-apiserver",
            &[
                "127.0.0.1",
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                KUBERNETES_SERVICE_IP,
            ],
        )?;
        let admin = ca.issue_client("admin", Some("system:masters"))?;
        let scheduler_client = ca.issue_client("system:kube-scheduler", None)?;
        let kcm_client = ca.issue_client("system:kube-controller-manager", None)?;
        let scheduler_serving = ca.issue_serving("kube-scheduler", &["127.0.0.1", "localhost"])?;
        let kcm_serving =
            ca.issue_serving("kube-controller-manager", &["127.0.0.1", "localhost"])?;
        let sa_key = ServiceAccountKey::new()?;
        // The front-proxy (request-header) CA, as kubeadm sets it up: the API server
        // publishes it in kube-system/extension-apiserver-authentication, where the
        // scheduler's and controller-manager's delegated authentication expect it (they
        // log an error every few seconds without it). A CA of its own, so that a client
        // certificate of the cluster CA cannot assert X-Remote-User headers.
        let front_proxy_ca = CertAuthority::new("front-proxy-ca")?;
        let front_proxy_client = front_proxy_ca.issue_client("front-proxy-client", None)?;

        let ca_crt = write(&dir, "ca.crt", ca.cert_pem())?;
        let (apiserver_crt, apiserver_key) = write_pair(&dir, "apiserver", &apiserver_cert)?;
        let (scheduler_crt, scheduler_key) =
            write_pair(&dir, "scheduler-serving", &scheduler_serving)?;
        let (kcm_crt, kcm_key) = write_pair(&dir, "controller-manager-serving", &kcm_serving)?;
        let sa_private = write(&dir, "sa.key", &sa_key.private_pem)?;
        let sa_public = write(&dir, "sa.pub", &sa_key.public_pem)?;
        let front_proxy_ca_crt = write(&dir, "front-proxy-ca.crt", front_proxy_ca.cert_pem())?;
        let (front_proxy_crt, front_proxy_key) =
            write_pair(&dir, "front-proxy-client", &front_proxy_client)?;

        let api_url = format!("https://127.0.0.1:{}", ports.api_server);
        let admin_kubeconfig = write(
            &dir,
            "admin.kubeconfig",
            &kubeconfig_yaml(&api_url, ca.cert_pem(), "admin", &admin),
        )?;
        let scheduler_kubeconfig = write(
            &dir,
            "scheduler.kubeconfig",
            &kubeconfig_yaml(
                &api_url,
                ca.cert_pem(),
                "system:kube-scheduler",
                &scheduler_client,
            ),
        )?;
        let kcm_kubeconfig = write(
            &dir,
            "controller-manager.kubeconfig",
            &kubeconfig_yaml(
                &api_url,
                ca.cert_pem(),
                "system:kube-controller-manager",
                &kcm_client,
            ),
        )?;
        // The scheduler's --kubeconfig flag is deprecated; its configuration file is the
        // supported way to name the kubeconfig.
        let scheduler_config = write(
            &dir,
            "scheduler-config.yaml",
            &format!(
                "apiVersion: kubescheduler.config.k8s.io/v1\n\
                 kind: KubeSchedulerConfiguration\n\
                 clientConnection:\n  kubeconfig: {}\n\
                 leaderElection:\n  leaderElect: false\n",
                path_str(&scheduler_kubeconfig)?
            ),
        )?;

        // etcd.
        let etcd_url = format!("http://127.0.0.1:{}", ports.etcd_client);
        let peer_url = format!("http://127.0.0.1:{}", ports.etcd_peer);
        let etcd_args = vec![
            "--name=default".to_string(),
            format!("--data-dir={}", path_str(&dir.join("etcd"))?),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            // A throw-away store: no fsync makes writes (and so the start) faster.
            "--unsafe-no-fsync".to_string(),
        ];
        starting
            .processes
            .push(ManagedProcess::spawn("etcd", etcd_bin, &etcd_args, &dir)?);
        wait_for_etcd(starting, ports.etcd_client).await?;

        // kube-apiserver: the default admission plugins stay on (ServiceAccount,
        // TaintNodesByCondition, DefaultTolerationSeconds, ... are part of what the
        // policies must see).
        let apiserver_args = vec![
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_string(),
            "--advertise-address=127.0.0.1".to_string(),
            format!("--secure-port={}", ports.api_server),
            // Nothing is written there (the serving pair is given), but the default is
            // /var/run/kubernetes.
            format!("--cert-dir={}", path_str(&dir.join("apiserver-certs"))?),
            format!("--tls-cert-file={}", path_str(&apiserver_crt)?),
            format!("--tls-private-key-file={}", path_str(&apiserver_key)?),
            format!("--client-ca-file={}", path_str(&ca_crt)?),
            format!("--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"),
            "--allow-privileged=true".to_string(),
            "--authorization-mode=Node,RBAC".to_string(),
            format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
            format!("--service-account-key-file={}", path_str(&sa_public)?),
            format!(
                "--service-account-signing-key-file={}",
                path_str(&sa_private)?
            ),
            format!(
                "--requestheader-client-ca-file={}",
                path_str(&front_proxy_ca_crt)?
            ),
            "--requestheader-allowed-names=front-proxy-client".to_string(),
            "--requestheader-username-headers=X-Remote-User".to_string(),
            "--requestheader-group-headers=X-Remote-Group".to_string(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_string(),
            format!("--proxy-client-cert-file={}", path_str(&front_proxy_crt)?),
            format!("--proxy-client-key-file={}", path_str(&front_proxy_key)?),
            // The `kubernetes` Service's endpoints would be the advertise address,
            // 127.0.0.1, which Endpoints validation rejects (loopback) every 10 s; no
            // in-cluster client exists to use them.
            "--endpoint-reconciler-type=none".to_string(),
        ];
        starting.processes.push(ManagedProcess::spawn(
            "kube-apiserver",
            apiserver_bin,
            &apiserver_args,
            &dir,
        )?);

        let admin_config = config_from_kubeconfig(&admin_kubeconfig).await?;
        let client = Client::try_from(admin_config.clone()).context("building the admin client")?;
        wait_for_api_server(starting, &client).await?;

        // kube-scheduler and kube-controller-manager, started together.
        let scheduler_args = vec![
            format!("--config={}", path_str(&scheduler_config)?),
            format!(
                "--authentication-kubeconfig={}",
                path_str(&scheduler_kubeconfig)?
            ),
            format!(
                "--authorization-kubeconfig={}",
                path_str(&scheduler_kubeconfig)?
            ),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={}", ports.scheduler),
            format!("--tls-cert-file={}", path_str(&scheduler_crt)?),
            format!("--tls-private-key-file={}", path_str(&scheduler_key)?),
            "--leader-elect=false".to_string(),
        ];
        let kcm_args = vec![
            format!("--kubeconfig={}", path_str(&kcm_kubeconfig)?),
            format!("--authentication-kubeconfig={}", path_str(&kcm_kubeconfig)?),
            format!("--authorization-kubeconfig={}", path_str(&kcm_kubeconfig)?),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={}", ports.controller_manager),
            format!("--tls-cert-file={}", path_str(&kcm_crt)?),
            format!("--tls-private-key-file={}", path_str(&kcm_key)?),
            "--leader-elect=false".to_string(),
            format!("--controllers={CONTROLLERS}"),
            // Each controller runs as its own service account (kube-system/<controller>),
            // bound by the bootstrap RBAC policy; system:kube-controller-manager alone may
            // not create pods or replica sets.
            "--use-service-account-credentials=true".to_string(),
            format!(
                "--service-account-private-key-file={}",
                path_str(&sa_private)?
            ),
            format!("--root-ca-file={}", path_str(&ca_crt)?),
        ];
        starting.processes.push(ManagedProcess::spawn(
            "kube-scheduler",
            scheduler_bin,
            &scheduler_args,
            &dir,
        )?);
        starting.processes.push(ManagedProcess::spawn(
            "kube-controller-manager",
            kcm_bin,
            &kcm_args,
            &dir,
        )?);

        let probe_config = |port: u16| -> Result<Config> {
            let mut c = admin_config.clone();
            c.cluster_url = format!("https://127.0.0.1:{port}")
                .parse()
                .context("component URL")?;
            c.connect_timeout = Some(Duration::from_secs(2));
            c.read_timeout = Some(Duration::from_secs(5));
            c.default_retry = false;
            Ok(c)
        };
        let scheduler_probe = Client::try_from(probe_config(ports.scheduler)?)
            .context("building the scheduler probe client")?;
        let kcm_probe = Client::try_from(probe_config(ports.controller_manager)?)
            .context("building the controller-manager probe client")?;
        wait_for_healthz(starting, "kube-scheduler", &scheduler_probe).await?;
        wait_for_healthz(starting, "kube-controller-manager", &kcm_probe).await?;
        // The controllers run once the ServiceAccount controller has filled `default`.
        wait_for_default_sa(starting, &client).await?;

        Ok(Self {
            run_dir: dir,
            processes: Vec::new(),
            ca,
            api_url,
            etcd_url,
            admin_kubeconfig,
            admin_config,
            client,
            started_in: begun.elapsed(),
            keep_run_dir: std::env::var_os("CONTROL_PLANE_KEEP").is_some(),
        })
    }

    /// A client authenticated as `admin` (group `system:masters`).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The admin client's configuration (CA, admin client certificate), to derive others.
    pub fn admin_config(&self) -> Config {
        self.admin_config.clone()
    }

    /// The admin kubeconfig on disk (certificates embedded), for kubectl and other tools.
    pub fn admin_kubeconfig_path(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// `https://127.0.0.1:<port>`.
    pub fn api_server_url(&self) -> &str {
        &self.api_url
    }

    pub fn etcd_url(&self) -> &str {
        &self.etcd_url
    }

    /// The cluster CA certificate (PEM): a webhook configuration's `caBundle` is its
    /// base64 (see [`ControlPlane::ca_bundle`]).
    pub fn ca_cert_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// The CA's private key (PEM, PKCS#8), for code that signs its own certificates.
    pub fn ca_key_pem(&self) -> String {
        self.ca.key_pem()
    }

    /// The base64 of the CA PEM, as `clientConfig.caBundle` takes it in JSON/YAML.
    pub fn ca_bundle(&self) -> String {
        B64.encode(self.ca.cert_pem())
    }

    pub fn ca(&self) -> &CertAuthority {
        &self.ca
    }

    /// A serving certificate signed by the cluster CA, for a webhook on 127.0.0.1:
    /// `sans` are IP addresses and DNS names (e.g. `["127.0.0.1", "localhost"]`).
    /// Returns `(cert_pem, key_pem)`.
    pub fn issue_serving_cert(&self, sans: &[&str]) -> Result<(String, String)> {
        let cn = sans.first().copied().unwrap_or("webhook");
        let pair = self.ca.issue_serving(cn, sans)?;
        Ok((pair.cert_pem, pair.key_pem))
    }

    /// A client certificate (user from CN, at most one group from O) the API server
    /// accepts. Returns `(cert_pem, key_pem)`.
    pub fn issue_client_cert(&self, user: &str, group: Option<&str>) -> Result<(String, String)> {
        let pair = self.ca.issue_client(user, group)?;
        Ok((pair.cert_pem, pair.key_pem))
    }

    /// A client authenticated as the ServiceAccount `namespace/name` with a token from
    /// the TokenRequest API (valid one hour), for RBAC checks. The ServiceAccount must
    /// exist.
    pub async fn client_as_service_account(&self, namespace: &str, name: &str) -> Result<Client> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..Default::default()
            }),
            ..Default::default()
        };
        let issued: TokenRequest = api
            .create_subresource("token", name, &PostParams::default(), &request)
            .await
            .with_context(|| {
                format!("requesting a token for service account {namespace}/{name}")
            })?;
        let token = issued
            .status
            .and_then(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| anyhow!("the TokenRequest for {namespace}/{name} returned no token"))?;
        let auth: AuthInfo = serde_json::from_value(serde_json::json!({ "token": token }))
            .context("building the token credentials")?;
        let mut config = self.admin_config.clone();
        config.auth_info = auth;
        config.default_namespace = namespace.to_string();
        Client::try_from(config).context("building the service-account client")
    }

    /// A client that acts as `user` in `groups` (the admin impersonates them; the API
    /// server then authorizes as that user), for RBAC checks of users and groups.
    pub fn client_as_user(&self, user: &str, groups: &[&str]) -> Result<Client> {
        let mut config = self.admin_config.clone();
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups = if groups.is_empty() {
            None
        } else {
            Some(groups.iter().map(|g| g.to_string()).collect())
        };
        Client::try_from(config).context("building the impersonating client")
    }

    /// How long [`ControlPlane::start`] took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// `target/control-plane/run/<pid>-<n>`: certificates, kubeconfigs, etcd's data and
    /// one log per process.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The log of `component` (`etcd`, `kube-apiserver`, `kube-scheduler`,
    /// `kube-controller-manager`).
    pub fn log_path(&self, component: &str) -> PathBuf {
        self.run_dir.join(format!("{component}.log"))
    }

    /// The last `lines` lines of a component's log.
    pub fn log_tail(&self, component: &str, lines: usize) -> String {
        log_tail(&self.log_path(component), lines)
    }

    /// Keep the run directory after drop (its logs), e.g. when a test is about to fail.
    pub fn keep_run_dir(&mut self) {
        self.keep_run_dir = true;
    }

    /// Fails (quoting its log) if a process has exited since the start.
    pub fn check_running(&mut self) -> Result<()> {
        for p in &mut self.processes {
            p.check_running()?;
        }
        Ok(())
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // Clients first in spirit: the controllers, then the API server, then its store.
        for p in self.processes.iter_mut().rev() {
            p.kill();
        }
        if self.keep_run_dir || std::thread::panicking() {
            eprintln!(
                "control plane: run directory kept at {}",
                self.run_dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// Five distinct free ports: all listeners are held until every port is chosen, so
/// the kernel cannot hand out one twice. (Another process could still take one before
/// our child binds it; that start then fails with the child's "address in use" log.)
fn free_ports() -> Result<Ports> {
    let listeners = (0..5)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("reserving free ports on 127.0.0.1")?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .context("reading the reserved ports")?;
    Ok(Ports {
        etcd_client: ports[0],
        etcd_peer: ports[1],
        api_server: ports[2],
        scheduler: ports[3],
        controller_manager: ports[4],
    })
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("path {} is not UTF-8", path.display()))
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn write_pair(dir: &Path, stem: &str, pair: &CertPair) -> Result<(PathBuf, PathBuf)> {
    Ok((
        write(dir, &format!("{stem}.crt"), &pair.cert_pem)?,
        write(dir, &format!("{stem}.key"), &pair.key_pem)?,
    ))
}

/// A kubeconfig with the CA and the client pair embedded (one self-contained file).
fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, client: &CertPair) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: control-plane\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\n\
         users:\n\
         - name: {user:?}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n\
         contexts:\n\
         - name: control-plane\n  context:\n    cluster: control-plane\n    user: {user:?}\n    namespace: default\n\
         current-context: control-plane\n",
        ca = B64.encode(ca_pem),
        cert = B64.encode(&client.cert_pem),
        key = B64.encode(&client.key_pem),
    )
}

async fn config_from_kubeconfig(path: &Path) -> Result<Config> {
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading {}", path.display()))
}

/// Polls `probe` until it returns `Ok(true)`, failing fast (with that log) when one of
/// the processes exits, and with the tail of `log_of`'s log at the deadline.
async fn wait_until<F, Fut>(
    starting: &mut Starting,
    what: &str,
    log_of: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    loop {
        starting.check_all_running()?;
        match probe().await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            let tail = starting.get(log_of).map(|p| p.tail(40)).unwrap_or_default();
            bail!(
                "{what} not ready after {timeout:?} (last probe: {last}); last lines of {log_of}.log:\n{tail}"
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_for_etcd(starting: &mut Starting, port: u16) -> Result<()> {
    wait_until(
        starting,
        "etcd /health",
        "etcd",
        ETCD_TIMEOUT,
        || async move {
            let body = http_get_loopback(port, "/health").await?;
            Ok(body.contains("\"health\":\"true\""))
        },
    )
    .await
}

async fn wait_for_api_server(starting: &mut Starting, client: &Client) -> Result<()> {
    wait_until(
        starting,
        "kube-apiserver /readyz",
        "kube-apiserver",
        API_SERVER_TIMEOUT,
        || async {
            let req = http_get("/readyz")?;
            let body = client.request_text(req).await?;
            Ok(body.trim() == "ok")
        },
    )
    .await
}

async fn wait_for_healthz(starting: &mut Starting, name: &str, probe: &Client) -> Result<()> {
    wait_until(
        starting,
        &format!("{name} /healthz"),
        name,
        COMPONENT_TIMEOUT,
        || async {
            let body = probe.request_text(http_get("/healthz")?).await?;
            Ok(body.trim() == "ok")
        },
    )
    .await
}

async fn wait_for_default_sa(starting: &mut Starting, client: &Client) -> Result<()> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    wait_until(
        starting,
        "the ServiceAccount controller (default/default)",
        "kube-controller-manager",
        COMPONENT_TIMEOUT,
        || async { Ok(api.get_opt("default").await?.is_some()) },
    )
    .await
}

fn http_get(path: &str) -> Result<http::Request<Vec<u8>>> {
    http::Request::get(path)
        .body(Vec::new())
        .with_context(|| format!("building GET {path}"))
}

/// A plain HTTP/1.0 GET on 127.0.0.1 (etcd's client port speaks plain HTTP here).
async fn http_get_loopback(port: u16, path: &str) -> Result<String> {
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        std::io::Result::Ok(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(2), io)
        .await
        .context("timed out")??;
    Ok(String::from_utf8_lossy(&response).into_owned())
}
