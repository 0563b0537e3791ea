/** Help texts of the `gds` CLI, one per command and subcommand. */

const ADMIN_OPTIONS = `Admin options:
  --endpoint URL   server endpoint (default $GDS_ENDPOINT, else opc.tcp://localhost:$GDS_PORT, port
                   4840 if GDS_PORT is unset)
  --json           machine-readable JSON output
  -h, --help       show this help

Environment:
  GDS_ENDPOINT         the server endpoint when --endpoint is not given
  GDS_ADMIN_USER       user for admin commands (default admin)
  GDS_ADMIN_PASSWORD   its password (required)
  GDS_CLI_PKI_DIR      the CLI's certificate store (default ~/.config/opcua-gds/cli-pki)`;

const REQUEST_STATE_LIST = "pending, approved, rejected, delivered, failed";

const CA_IMPORT_DETAILS = `Works offline on the data dir: refuses while a server holds it (stop the server first; restart it
afterwards to use the imported CA).

Options:
  --cert FILE        the CA certificate, PEM or DER; a PEM file may carry its issuers too (the CA
                     first, then its issuers up to the root)
  --key FILE         its private key, unencrypted: PEM (PKCS#8, PKCS#1 or SEC1) or DER; RSA ≥ 2048
                     bits or ECDSA
  --group GROUP      DefaultApplicationGroup (default), DefaultHttpsGroup or DefaultUserTokenGroup
  --data-dir DIR     the server's data dir (default $GDS_DATA_DIR, else ./pki, as for gds start;
                     refused when it names another dir than $GDS_DATA_DIR)
  --force            replace the group's existing CA (kept beside it; certificates it issued do not
                     verify against the new one)
  --json             machine-readable JSON output
  -h, --help         show this help

Exit codes: 0 imported, 1 failure (e.g. not a CA certificate, key does not match), 2 usage error or
a server holds the data dir, 6 the group already has a CA (use --force)`;

const EXIT_CODES =
  "Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 cannot connect, 4 access denied, 5 not found, 6 already exists";

export const MAIN_USAGE = `Usage: gds <command> [options]

OPC UA Global Discovery Server and its admin client.

Commands:
  start [options]             run the server (gds start --help for its options)
  apps list [--json]          list registered applications
  apps show ID [--json]       show one application (ID: the GUID apps list shows)
  apps remove ID              unregister an application
  apps add --uri URN --name NAME [--type T] [--discovery-url URL ...] [--json]
  apps add --from-endpoint opc.tcp://host:port
                              register an application on its behalf (e.g. a device for push);
                              prints its ApplicationId
  users add NAME --role ROLE [--role ROLE ...] --password-env VAR
                              create a user; the password is read from the environment variable VAR
  users list [--json]         list users and their roles
  users remove NAME           delete a user
  users add-cert NAME --cert FILE
                              bind a certificate (PEM or DER) to a user for X509 user tokens
  users set-roles NAME --role ROLE [--role ROLE ...]
                              replace a user's roles
  users passwd NAME --password-env VAR
                              set a user's password (read from $VAR)
  requests list [--state S] [--json]
                              list certificate requests, newest first, with the application and
                              what each certificate will hold
  requests show ID [--json]   one request in full, the key included
  requests approve ID         approve a pending certificate request
  requests reject ID [--reason R]
                              reject a certificate request
  clients list [--json]       client application certificates the server trusts or has seen
  clients trust THUMBPRINT    trust a client certificate the server has seen
  clients remove THUMBPRINT   remove a trusted (or seen) client certificate
  push set ID --endpoint URL --user U --password-env VAR [--security-policy P]
                              make an application push-managed (the GDS renews its certificate
                              and trust list on the device); see gds push --help
  push now ID [--no-wait]     push the trust list and a new certificate to the device now
  push status [ID] [--json]   push targets: last attempt, last success, certificate, last error
  push remove ID              end push management of an application
  ca import --cert FILE --key FILE [--group GROUP] [--data-dir DIR] [--force]
                              import an existing CA into the data dir (offline: stop the server first)
  backup --out FILE --passphrase-env VAR [--data-dir DIR] [--json]
                              write the whole data dir (CA keys included) to one encrypted
                              archive (offline)
  restore FILE --passphrase-env VAR [--data-dir DIR] [--force] [--json]
                              decrypt and verify an archive, restore it into an empty data dir
                              (offline)
  certs list [--app ID] [--expiring-within DUR] [--revoked] [--json]
                              list issued certificates with their state, soonest expiry first
  certs revoke --app ID | --serial HEX [--reason R]
                              revoke a certificate, or every unexpired one of an application
  ca show [--json]            each group's CA and its CRL
  trustlist export --group NAME --out DIR [--json]
                              write what a device needs to trust this GDS (CA certificates, CRLs,
                              the GDS's own certificate) as DER files into DIR
  audit [--since DUR|TIME] [--limit N] [--json]
                              the audit log, newest last
  status [--json]             endpoint, uptime, applications, certificates (valid, expiring,
                              revoked), pending requests, push-managed devices, failed pushes

Identifiers: ApplicationIds and RequestIds are shown as GUIDs everywhere (CLI output, --json, the
audit log, the server's log lines), so an id copied from one is found with grep in the others;
commands also accept the NodeId forms (ns=…;g=<guid>, nsu=…;g=<guid>).

The apps, users, requests, clients, certs, ca show and audit commands talk to a running server over OPC UA
(SignAndEncrypt); ca import, backup and restore work on the data dir and refuse while a server
holds it.

${ADMIN_OPTIONS}

${EXIT_CODES}
`;

export const APPS_USAGE = `Usage: gds apps <list|show|add|remove> [options]

Commands:
  list [--json]      list registered applications (applicationId, applicationUri, type, name)
  show ID [--json]   show one application
  add --uri URN --name NAME [--type T] [--product-uri URI] [--discovery-url URL ...]
      [--capability CAP ...] [--json]
  add --from-endpoint opc.tcp://host:port [flags above to override]
                     register an application (as RegisterApplication does); prints its ApplicationId
  remove ID          unregister an application (as UnregisterApplication does)

${ADMIN_OPTIONS}
`;

export const USERS_USAGE = `Usage: gds users <add|list|remove|add-cert|set-roles|passwd> [options]

Commands:
  add NAME --role ROLE [--role ROLE ...] --password-env VAR
                     create a user with the given roles; the password is read from $VAR
  list [--json]      list users, their roles and bound certificates
  remove NAME        delete a user
  add-cert NAME --cert FILE
                     bind a certificate (PEM or DER) to a user for X509 user tokens
  set-roles NAME --role ROLE [--role ROLE ...]
                     replace a user's roles
  passwd NAME --password-env VAR
                     set a user's password (read from $VAR); SecurityAdmin, or the user itself

${ADMIN_OPTIONS}
`;

export const REQUESTS_USAGE = `Usage: gds requests <list|show|approve|reject> [options]

Certificate requests (StartSigningRequest, StartNewKeyPairRequest) wait for approval when the
server runs with GDS_AUTO_APPROVE=false. Approving and rejecting need RegistrationAuthorityAdmin.

Commands:
  list [--state S] [--json]    list requests, newest first (S: ${REQUEST_STATE_LIST}), with the
                               application and the subject and names the certificate will get
  show ID [--json]             one request in full, the key to be certified included
  approve ID [--json]          approve a pending request; its FinishRequest then gets the certificate
  reject ID [--reason R] [--json]
                               reject a request; its FinishRequest then answers BadRequestNotAllowed

${ADMIN_OPTIONS}
`;

export const CLIENTS_USAGE = `Usage: gds clients <list|trust|remove> [options]

The client application certificates the server's own PKI (<data dir>/server-pki) trusts, and those
it met on a secure channel without trusting them (the seen list, bounded by
GDS_MAX_SEEN_CLIENT_CERTIFICATES). A certificate issued by this GDS needs no trusting. All three
commands need SecurityAdmin.

Commands:
  list [--json]          every trusted and seen client certificate with its SHA-1 thumbprint
  trust THUMBPRINT       trust a seen certificate: new channels secured with it are accepted
  remove THUMBPRINT      remove a trusted certificate (new channels with it are refused unless
                         GDS_ACCEPT_UNKNOWN_CERTIFICATES=true), or drop a seen one from the list

THUMBPRINT: 40 hex digits as gds clients list shows them (colons and upper case allowed).

${ADMIN_OPTIONS}
`;

const BACKUP_DATA_DIR_OPTION = `  --data-dir DIR        the server's data dir (default $GDS_DATA_DIR, else ./pki, as for gds
                        start; refused when it names another dir than $GDS_DATA_DIR)`;

/** `gds backup` refuses shorter passphrases: the archive can be attacked offline. */
export const MIN_PASSPHRASE_LENGTH = 12;

/** Printed on stderr by `gds backup --unencrypted` and `gds restore --unencrypted`. */
export const UNENCRYPTED_WARNING = `gds: WARNING: --unencrypted: the archive is NOT encrypted and NOT authenticated. It holds the CA
gds: WARNING: private keys and secrets.key in the clear, and anyone who can write it can change it.
gds: WARNING: Use it for tests only; encrypt real backups with --passphrase-env VAR.
`;

export const BACKUP_USAGE = `Usage: gds backup --out FILE --passphrase-env VAR [--data-dir DIR] [--json]
       gds backup --out FILE --unencrypted [--data-dir DIR] [--json]     (tests only)

Writes everything in the data dir that makes this GDS (database and journal, users, CA keys and
certificates, CRLs, issued certificates, push credentials and secrets.key, the server's own
certificate and key, audit.log, gds.config.json) to FILE, encrypted and authenticated with the
passphrase in $VAR: AES-256-GCM under a key derived with scrypt (N=2^17, r=8, p=1, random salt).
Inside is a gzip'd tar with manifest.json first (every file's size, mode and sha256). Left out:
the lock file gds.lock and temp files of interrupted writes. FILE is written atomically with mode
0600. Keep the passphrase apart from the archive: whoever has both has the CA.

Works offline: refuses while a server holds the data dir (stop the server first), and holds the
data dir's lock while it reads, so a server cannot start meanwhile.

Options:
  --out FILE            the archive to write (e.g. gds-backup-2026-11-25.gdsbak; replaced if it
                        exists)
  --passphrase-env VAR  the environment variable holding the passphrase (at least
                        ${MIN_PASSPHRASE_LENGTH} characters; a credential file: VAR="$(cat FILE)")
  --unencrypted         write a plain tar.gz instead (tests only; warns on stderr)
${BACKUP_DATA_DIR_OPTION}
  --json                machine-readable JSON output
  -h, --help            show this help

Exit codes: 0 written, 1 failure (e.g. a symlink in the data dir, cannot write FILE), 2 usage error
(neither --passphrase-env nor --unencrypted, VAR not set, passphrase too short) or a server holds
the data dir
`;

export const RESTORE_USAGE = `Usage: gds restore FILE --passphrase-env VAR [--data-dir DIR] [--force] [--json]
       gds restore FILE --unencrypted [--data-dir DIR] [--force] [--json]     (tests only)

Restores an archive made by gds backup into the data dir. The archive is decrypted and its
authentication tag checked first (a wrong passphrase or any changed byte is refused), then the
whole content is checked (manifest, every file's size and sha256, no absolute paths, no "..", no
links, nothing the manifest does not list, size bounds: a zip bomb is refused while it is being
decompressed); a refused archive leaves the data dir as it was: nothing is written.

The data dir must be empty or missing. With --force a non-empty one is moved aside, as a whole,
to DIR.before-restore-<time> (nothing is deleted). Restore sets the modes itself, never from the
archive: folders 0700, files 0600. A gds.lock (or any lock or temp file) in the archive is ignored.

Works offline: refuses while a server holds the data dir, and holds its lock while it writes.

Options:
  --passphrase-env VAR  the environment variable holding the backup's passphrase
  --unencrypted         the archive is a plain tar.gz from gds backup --unencrypted (tests only)
${BACKUP_DATA_DIR_OPTION}
  --force               move a non-empty data dir aside instead of refusing
  --json                machine-readable JSON output
  -h, --help            show this help

Exit codes: 0 restored, 1 the archive cannot be decrypted (wrong passphrase, changed or damaged),
is damaged or not a GDS backup (nothing written), or a write failed, 2 usage error (also: an
encrypted archive without --passphrase-env, a plain one without --unencrypted) or a server holds
the data dir, 6 the data dir is not empty (use --force)
`;

const TRUSTLIST_EXPORT_DETAILS = `Writes what a push-managed device needs to trust this GDS into DIR (created when missing), as
DER files, and prints each file written:
  <group>-ca-<thumbprint8>.der   each certificate of the group's trust list (trusted and issuer
                                 lists): the CA certificate(s) that sign the devices' certificates
  <group>-crl-<n>.crl            each current CRL of the group (n = 1, 2, …)
  gds-server.der                 the GDS's own application certificate: the GDS connects to
                                 devices with it, so the device must trust it (it is self-signed
                                 unless you replaced it)
Files of the same names are replaced; other files in DIR are left alone.
  --group NAME   DefaultApplicationGroup (default), DefaultHttpsGroup or DefaultUserTokenGroup
  --out DIR      the folder to write

On a device, put the certificates into its trusted certificates store (e.g. pki/trusted/certs)
and the CRLs into its trusted CRL store (pki/trusted/crl); \`npm run demo:device -- --trust DIR\`
does that for the demo device. Any administrative role may export.

With --json, prints {"group", "out", "files": [{"name", "kind", "path", "bytes"}]}; kind is
caCertificate, crl or gdsCertificate.`;

export const TRUSTLIST_USAGE = `Usage: gds trustlist export [--group NAME] --out DIR [--endpoint URL] [--json]

Commands:
  export     write a group's CA certificates and CRLs and the GDS's own certificate as DER files

${TRUSTLIST_EXPORT_DETAILS}

${ADMIN_OPTIONS}
`;

export const CA_USAGE = `Usage: gds ca import --cert FILE --key FILE [--group GROUP] [--data-dir DIR] [--force] [--json]
       gds ca show [--endpoint URL] [--json]

Commands:
  import     import an existing CA (certificate + private key) instead of the one the server makes
  show       each group's CA (subject, serial, validity, key type, thumbprint) and its CRL, from a
             running server (gds ca show --help)

${CA_IMPORT_DETAILS}
`;

const CERT_STATES = `States: valid; expiring = valid with less than GDS_RENEW_BEFORE left; expired; revoked
(computed with the server's clock).`;

export const CERTS_USAGE = `Usage: gds certs <list|revoke> [options]

Commands:
  list [--app ID] [--expiring-within DUR] [--revoked] [--json]
                     issued certificates, sorted by notAfter (soonest first)
  revoke --app ID | --serial HEX [--reason R] [--json]
                     revoke one certificate, or every unexpired certificate of an application

${CERT_STATES}

${ADMIN_OPTIONS}
`;

const PUSH_DETAILS = `Push management: the GDS connects to a registered device (an OPC UA server exposing
ServerConfiguration) as a client, pushes its trust list (the GDS CA and CRL), has the device make
a CSR, signs it and pushes the certificate, then confirms with GetEndpoints. The scheduler does it
again on its own when less than GDS_RENEW_BEFORE of the certificate remains and whenever the
group's trust list changes. Setting, removing and pushing need SecurityAdmin; any admin role may
read the status.

GDS endpoint: in push set, --endpoint is the DEVICE's endpoint; the GDS's endpoint then comes from
--gds-endpoint or GDS_ENDPOINT (default opc.tcp://localhost:$GDS_PORT). The other push commands
also take --endpoint for the GDS, like every admin command; --gds-endpoint wins over it.`;

const PUSH_ADMIN_OPTIONS = `Admin options:
  --gds-endpoint URL  the GDS endpoint (default $GDS_ENDPOINT, else opc.tcp://localhost:$GDS_PORT)
  --json              machine-readable JSON output
  -h, --help          show this help

Environment:
  GDS_ENDPOINT         the GDS endpoint when no flag names it (every admin command)
  GDS_ADMIN_USER       user for admin commands (default admin)
  GDS_ADMIN_PASSWORD   its password (required)
  GDS_CLI_PKI_DIR      the CLI's certificate store (default ~/.config/opcua-gds/cli-pki)`;

export const PUSH_USAGE = `Usage: gds push <set|now|status|remove> [options]

Commands:
  set ID --endpoint URL --user U --password-env VAR [--security-policy P] [--security-mode M]
         [--use-gds-certificate] [--no-regenerate-key]
                     make application ID push-managed (or change its settings)
  now ID [--no-wait] [--timeout DUR]
                     push the trust list and a new certificate now; waits for the result
  status [ID] [--json]
                     every push target (or one) with its status
  remove ID          end push management (the device keeps what it has)

${PUSH_DETAILS}

${PUSH_ADMIN_OPTIONS}
`;

export const LEAF_USAGE: Record<string, string> = {
  "trustlist export": `Usage: gds trustlist export [--group NAME] --out DIR [--endpoint URL] [--json]

${TRUSTLIST_EXPORT_DETAILS}

${ADMIN_OPTIONS}
`,
  "push set": `Usage: gds push set ID --endpoint URL --user U --password-env VAR [--security-policy P]
                    [--security-mode M] [--use-gds-certificate] [--no-regenerate-key]
                    [--gds-endpoint URL] [--json]

Makes registered application ID push-managed, or changes its settings. The GDS pushes at once
(first push), then whenever due.

Options:
  --endpoint URL         the device's endpoint, opc.tcp://host:port[/path] (required)
  --user U               the device user holding SecurityAdmin
  --password-env VAR     the environment variable holding that user's password (never on the
                         command line); stored encrypted in the GDS data dir
  --security-policy P    Basic256Sha256 (default), Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss
  --security-mode M      SignAndEncrypt (default) or Sign
  --use-gds-certificate  log in with the GDS's own application certificate (X509 identity)
                         instead of --user/--password-env
  --no-regenerate-key    CreateSigningRequest keeps the device's key (default: a new key pair)

${PUSH_DETAILS}

${PUSH_ADMIN_OPTIONS}
`,
  "push now": `Usage: gds push now ID [--no-wait] [--timeout DUR] [--gds-endpoint URL] [--json]

Pushes the trust list and a new certificate to the device now, regardless of any retry backoff.
The request is stored on the server (it survives a restart). By default waits until the cycle
has ended and prints the device's status; exit code 1 with the failed step, the status code and
the message when the push failed. --no-wait returns once the push is scheduled; --timeout DUR
bounds the wait (default 5m).

${PUSH_ADMIN_OPTIONS}
`,
  "push status": `Usage: gds push status [ID] [--gds-endpoint URL] [--json]

Push targets with their status: endpoint, last attempt, last success, result, the certificate
the device was confirmed to serve (serial, expiry), consecutive failures, next retry, the last
error (step, status code, message). --json prints every field (see the README, Push management).

${PUSH_ADMIN_OPTIONS}
`,
  "push remove": `Usage: gds push remove ID [--gds-endpoint URL] [--json]

Ends push management of application ID. The device keeps its certificate and trust list.

${PUSH_ADMIN_OPTIONS}
`,
  "certs list": `Usage: gds certs list [--app ID] [--expiring-within DUR] [--revoked] [--endpoint URL] [--json]

Lists every certificate this GDS issued, sorted by notAfter (soonest first): notAfter, state,
serial (hex), group, type, application id and URI. Filters combine:
  --app ID               only this application's (NodeId string or bare GUID); an application
                         that is neither registered nor holds a certificate is not found (exit 5)
  --expiring-within DUR  only certificates that are not revoked and expire within DUR from now
                         (e.g. 30d, 12h); already expired ones are not listed
  --revoked              only revoked certificates

${CERT_STATES}

With --json, prints a JSON array; each entry has applicationId, applicationUri (while the
application is registered), group, type, serialHex, notBefore, notAfter, state, and revokedAt and
revocationReason when revoked. Any administrative role may list certificates.

${ADMIN_OPTIONS}
`,
  "certs revoke": `Usage: gds certs revoke --app ID | --serial HEX [--reason R] [--endpoint URL] [--json]

Revokes as RevokeCertificate does: the group's CRL is re-signed at once, the trust lists change
(push-managed devices get them), and each revocation is audited with your user name.
  --serial HEX   the certificate with this serial number (hex, as certs list shows it; colons allowed)
  --app ID       every certificate of this application that is neither revoked nor expired
  --reason R     RFC 5280 reason: unspecified (default), keyCompromise, cACompromise,
                 affiliationChanged, superseded, cessationOfOperation, certificateHold,
                 privilegeWithdrawn, aACompromise
Give exactly one of --app and --serial. Prints what was revoked; a certificate that was already
revoked is reported as such and is not an error (exit 0). An unknown serial or application exits 5.
Needs CertificateAuthorityAdmin.

With --json, prints {"revoked": [...], "alreadyRevoked": [...]} with entries as certs list --json.

${ADMIN_OPTIONS}
`,
  "ca show": `Usage: gds ca show [--endpoint URL] [--json]

Shows, for each certificate group (DefaultApplicationGroup, DefaultHttpsGroup,
DefaultUserTokenGroup), the CA certificate's subject, serial, notBefore/notAfter, key type
(e.g. RSA 3072, ECDSA P-256) and SHA-1 thumbprint, and its current CRL's number, thisUpdate and
nextUpdate. Any administrative role may look.

With --json, prints a JSON array of {group, subject, serialHex, notBefore, notAfter, keyType,
thumbprint, issuers, crl: {crlNumber, thisUpdate, nextUpdate}}.

${ADMIN_OPTIONS}
`,
  status: `Usage: gds status [--endpoint URL] [--json]

The server at a glance: its endpoint, uptime, registered applications, issued certificates by
state (valid; expiring: less than GDS_RENEW_BEFORE left; expired; revoked), certificate requests
waiting for approval, push-managed devices and those whose last push failed. Any administrative
role may look. The same figures are variables of the admin object (ApplicationCount, …) and, with
GDS_HTTP_PORT, on http://127.0.0.1:4841/metrics.

With --json, prints {endpoint, startedAt, uptimeSeconds, applications, certificates: {valid,
expiring, expired, revoked, issued}, renewBeforeSeconds, pendingRequests, pushManagedDevices,
failedPushes}; the last two are null when the server has no push management.

${ADMIN_OPTIONS}
`,
  audit: `Usage: gds audit [--since DUR|TIME] [--limit N] [--endpoint URL] [--json]

Prints the audit log (registrations, certificate requests, approvals, issuance, revocations, trust
list changes, CA creation), oldest first and newest last, one line per entry: time, event, actor,
outcome, then application, request, group, type, serial and detail where the entry has them.
  --since DUR    only entries of the last DUR (e.g. 2h, 7d), by the server's clock
  --since TIME   only entries at or after TIME (ISO 8601, e.g. 2026-11-25T10:00:00Z)
  --limit N      at most the newest N entries (default 1000, at most 100000); when more matched,
                 a first line says how many were left out

With --json, prints {"entries": [...], "total": N, "truncated": bool, "damagedLines": N}; entries
carry time, event, actor, outcome and applicationId (NodeId string), applicationUri, requestId,
group, certificateType, serialHex, detail when present. Needs SecurityAdmin: the audit trail says
who did what.

${ADMIN_OPTIONS}
`,
  "apps list": `Usage: gds apps list [--endpoint URL] [--json]

Lists every registered application: applicationId, applicationUri, type, name.
With --json, prints the server's JSON array (each entry has applicationId and applicationUri).

${ADMIN_OPTIONS}
`,
  "apps show": `Usage: gds apps show ID [--endpoint URL] [--json]

Shows one application. ID is the ApplicationId: the GUID apps list shows (ns=…;g=<guid> and
nsu=…;g=<guid> are accepted too).

${ADMIN_OPTIONS}
`,
  "apps add": `Usage: gds apps add --uri URN --name NAME [--type T] [--product-uri URI]
                    [--discovery-url URL ...] [--capability CAP ...] [--endpoint URL] [--json]
       gds apps add --from-endpoint opc.tcp://host:port [same flags to override] [--endpoint URL] [--json]

Registers an application on its behalf, as RegisterApplication does (same checks; an ApplicationUri
already registered is refused, exit 6). Meant for devices the GDS pushes to (gds push set), which
never register themselves. Prints the new ApplicationId (the GUID, as apps list shows it), so
it can be used in a script:  ID=$(gds apps add --from-endpoint opc.tcp://plc7:4840)

Options:
  --uri URN              the ApplicationUri (as in the device's application certificate)
  --name NAME            the application's name
  --type T               Server (default), Client, ClientAndServer or DiscoveryServer
  --product-uri URI      the ProductUri (default: the ApplicationUri)
  --discovery-url URL    a DiscoveryUrl (repeatable); a Server needs at least one
  --capability CAP       a server capability identifier, e.g. DA, HD, LDS (repeatable)
  --from-endpoint URL    read applicationUri, applicationName, productUri, applicationType and
                         discoveryUrls from the device's ApplicationDescription (GetEndpoints over
                         SecurityPolicy None, no session; from the machine the CLI runs on);
                         discoveryUrls default to URL when the device lists none. Flags given
                         override what was read. Exit 3 when the device cannot be reached.

With --json, prints {"applicationId", "applicationUri", "applicationType", "applicationNames",
"productUri", "discoveryUrls", "serverCapabilities"}. Needs DiscoveryAdmin.

${ADMIN_OPTIONS}

${EXIT_CODES}
`,
  "apps remove": `Usage: gds apps remove ID [--endpoint URL] [--json]

Unregisters an application, as UnregisterApplication does.

${ADMIN_OPTIONS}
`,
  "users add": `Usage: gds users add NAME --role ROLE [--role ROLE ...] --password-env VAR [--endpoint URL] [--json]

Creates a user. The password is read from the environment variable named VAR (never from the
command line, where other users could see it); at least 8 characters.

ROLE is a well-known role name (case-insensitive), e.g. DiscoveryAdmin, CertificateAuthorityAdmin,
RegistrationAuthorityAdmin, SecurityAdmin, ConfigureAdmin, Observer.

${ADMIN_OPTIONS}
`,
  "users list": `Usage: gds users list [--endpoint URL] [--json]

Lists every user with its roles and creation time (no password hashes).

${ADMIN_OPTIONS}
`,
  "users add-cert": `Usage: gds users add-cert NAME --cert FILE [--endpoint URL] [--json]

Binds a certificate (FILE: PEM or DER) to the user NAME for X509 user tokens. A session whose X509
user token carries exactly this certificate acts as NAME; the certificate's subject (CN) is not
used to find the user. The server's user PKI (<data dir>/user-pki) must also trust it (the
certificate itself or its CA in trusted/). One certificate names one user. Requires SecurityAdmin.

${ADMIN_OPTIONS}
`,
  "users set-roles": `Usage: gds users set-roles NAME --role ROLE [--role ROLE ...] [--endpoint URL] [--json]

Replaces the roles of the user NAME. The last user holding SecurityAdmin keeps it. Requires
SecurityAdmin.

${ADMIN_OPTIONS}
`,
  "users passwd": `Usage: gds users passwd NAME --password-env VAR [--endpoint URL] [--json]

Sets the password of the user NAME. The new password is read from the environment variable named
VAR (never from the command line); at least 8 characters. The old password stops working at once
(sessions already open stay open). Audited as UserPasswordChanged. Requires SecurityAdmin, or
being NAME (GDS_ADMIN_USER=NAME) to change one's own password.

${ADMIN_OPTIONS}
`,
  "users remove": `Usage: gds users remove NAME [--endpoint URL] [--json]

Deletes a user. The last user holding SecurityAdmin cannot be removed.

${ADMIN_OPTIONS}
`,
  "requests list": `Usage: gds requests list [--state S] [--endpoint URL] [--json]

Lists certificate requests, newest first, one block each: request id, state, kind (signing or
newKeyPair); the application (id, ApplicationUri, name); certificate group and type; the subject,
DNS names and IP addresses the certificate will get (as the server's issuance policy decides them
from the registered application, not what the CSR asked for); who requested it and when.
--state S shows only requests in state S: ${REQUEST_STATE_LIST}.
With --json, prints the server's JSON array of request records (the same fields).

Any administrative role may list requests.

${ADMIN_OPTIONS}
`,
  "requests show": `Usage: gds requests show ID [--endpoint URL] [--json]

Shows one certificate request in full: what requests list shows, plus the key the certificate
will certify (type and size: the CSR's key, or the one the GDS generates for a new key pair),
the decision and the serial of the certificate once issued. ID as for approve.

Any administrative role may look.

${ADMIN_OPTIONS}
`,
  "requests approve": `Usage: gds requests approve ID [--endpoint URL] [--json]

Approves a pending certificate request; the application's next FinishRequest receives the
certificate. ID is the RequestId as listed (the GUID; ns=…;g=<guid> is accepted too).
Needs RegistrationAuthorityAdmin. A request that is not pending cannot be approved (BadInvalidState).

${ADMIN_OPTIONS}
`,
  "requests reject": `Usage: gds requests reject ID [--reason R] [--endpoint URL] [--json]

Rejects a pending or approved certificate request; the application's FinishRequest then answers
BadRequestNotAllowed. --reason R is kept with the request. ID as for approve.
Needs RegistrationAuthorityAdmin.

${ADMIN_OPTIONS}
`,
  "clients list": `Usage: gds clients list [--endpoint URL] [--json]

Lists the client application certificates the server trusts (state trusted: in
<data dir>/server-pki/trusted) and those it met on a secure channel without trusting them (state
seen, most recent first, with first and last time seen, connections and the last answer). Each
with its SHA-1 thumbprint (as gds certs and gds users list show thumbprints), subject,
ApplicationUri and validity. CA certificates (the GDS's own CAs) are not listed. Needs SecurityAdmin.

${ADMIN_OPTIONS}
`,
  "clients trust": `Usage: gds clients trust THUMBPRINT [--endpoint URL] [--json]

Trusts a client certificate from the seen list: it is copied into <data dir>/server-pki/trusted
and leaves the seen list; new secure channels secured with it are accepted, also with
GDS_ACCEPT_UNKNOWN_CERTIFICATES=false. Audited as ClientCertificateTrusted. Needs SecurityAdmin.

${ADMIN_OPTIONS}
`,
  "clients remove": `Usage: gds clients remove THUMBPRINT [--endpoint URL] [--json]

Removes a trusted client certificate from <data dir>/server-pki/trusted (new channels secured
with it are refused unless GDS_ACCEPT_UNKNOWN_CERTIFICATES=true; open ones stay), or, when it is
not trusted, drops it from the seen list. Audited as ClientCertificateRemoved. Needs SecurityAdmin.

${ADMIN_OPTIONS}
`,
  "ca import": `Usage: gds ca import --cert FILE --key FILE [--group GROUP] [--data-dir DIR] [--force] [--json]

Imports an existing CA (certificate and private key) for a certificate group, instead of the one
the server creates on its first start. GDS_CA_CERT_FILE and GDS_CA_KEY_FILE do the same for
DefaultApplicationGroup on the first start; this command also replaces the CA of a data dir that
already has one (--force). The certificate must be a CA certificate (basicConstraints CA:TRUE,
keyCertSign and cRLSign when keyUsage is present), not expired, and the key must be its own.
Without --force, a group that already has a CA is refused.

${CA_IMPORT_DETAILS}
`,
};
