/** Help texts of the `gds` CLI, one per command and subcommand. */

const ADMIN_OPTIONS = `Admin options:
  --endpoint URL   server endpoint (default opc.tcp://localhost:$GDS_PORT, port 4840 if GDS_PORT is unset)
  --json           machine-readable JSON output
  -h, --help       show this help

Environment:
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
  apps show ID [--json]       show one application (ID: NodeId string or bare GUID)
  apps remove ID              unregister an application
  users add NAME --role ROLE [--role ROLE ...] --password-env VAR
                              create a user; the password is read from the environment variable VAR
  users list [--json]         list users and their roles
  users remove NAME           delete a user
  requests list [--state S] [--json]
                              list certificate requests, newest first
  requests approve ID         approve a pending certificate request
  requests reject ID [--reason R]
                              reject a certificate request
  ca import --cert FILE --key FILE [--group GROUP] [--data-dir DIR] [--force]
                              import an existing CA into the data dir (offline: stop the server first)

The apps, users and requests commands talk to a running server over OPC UA (SignAndEncrypt);
ca import works on the data dir and refuses while a server holds it.

${ADMIN_OPTIONS}

${EXIT_CODES}
`;

export const APPS_USAGE = `Usage: gds apps <list|show|remove> [options]

Commands:
  list [--json]      list registered applications (applicationId, applicationUri, type, name)
  show ID [--json]   show one application
  remove ID          unregister an application (as UnregisterApplication does)

${ADMIN_OPTIONS}
`;

export const USERS_USAGE = `Usage: gds users <add|list|remove> [options]

Commands:
  add NAME --role ROLE [--role ROLE ...] --password-env VAR
                     create a user with the given roles; the password is read from $VAR
  list [--json]      list users and their roles
  remove NAME        delete a user

${ADMIN_OPTIONS}
`;

export const REQUESTS_USAGE = `Usage: gds requests <list|approve|reject> [options]

Certificate requests (StartSigningRequest, StartNewKeyPairRequest) wait for approval when the
server runs with GDS_AUTO_APPROVE=false. Approving and rejecting need RegistrationAuthorityAdmin.

Commands:
  list [--state S] [--json]    list requests, newest first (S: ${REQUEST_STATE_LIST})
  approve ID [--json]          approve a pending request; its FinishRequest then gets the certificate
  reject ID [--reason R] [--json]
                               reject a request; its FinishRequest then answers BadRequestNotAllowed

${ADMIN_OPTIONS}
`;

export const CA_USAGE = `Usage: gds ca import --cert FILE --key FILE [--group GROUP] [--data-dir DIR] [--force] [--json]

Commands:
  import     import an existing CA (certificate + private key) instead of the one the server makes

${CA_IMPORT_DETAILS}
`;

export const LEAF_USAGE: Record<string, string> = {
  "apps list": `Usage: gds apps list [--endpoint URL] [--json]

Lists every registered application: applicationId, applicationUri, type, name.
With --json, prints the server's JSON array (each entry has applicationId and applicationUri).

${ADMIN_OPTIONS}
`,
  "apps show": `Usage: gds apps show ID [--endpoint URL] [--json]

Shows one application. ID is the ApplicationId as a NodeId string (ns=…;g=… or nsu=…;g=…) or the bare GUID.

${ADMIN_OPTIONS}
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
  "users remove": `Usage: gds users remove NAME [--endpoint URL] [--json]

Deletes a user. The last user holding SecurityAdmin cannot be removed.

${ADMIN_OPTIONS}
`,
  "requests list": `Usage: gds requests list [--state S] [--endpoint URL] [--json]

Lists certificate requests, newest first: request id, application id, kind (signing or newKeyPair),
certificate group, certificate type, state, creation time, requesting user or application.
--state S shows only requests in state S: ${REQUEST_STATE_LIST}.
With --json, prints the server's JSON array of request records.

Any administrative role may list requests.

${ADMIN_OPTIONS}
`,
  "requests approve": `Usage: gds requests approve ID [--endpoint URL] [--json]

Approves a pending certificate request; the application's next FinishRequest receives the
certificate. ID is the RequestId as listed (ns=…;g=… or nsu=…;g=…) or the bare GUID.
Needs RegistrationAuthorityAdmin. A request that is not pending cannot be approved (BadInvalidState).

${ADMIN_OPTIONS}
`,
  "requests reject": `Usage: gds requests reject ID [--reason R] [--endpoint URL] [--json]

Rejects a pending or approved certificate request; the application's FinishRequest then answers
BadRequestNotAllowed. --reason R is kept with the request. ID as for approve.
Needs RegistrationAuthorityAdmin.

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
