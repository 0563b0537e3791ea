/** Help texts of the `gds` CLI, one per command and subcommand. */

const ADMIN_OPTIONS = `Admin options:
  --endpoint URL   server endpoint (default opc.tcp://localhost:$GDS_PORT, port 4840 if GDS_PORT is unset)
  --json           machine-readable JSON output
  -h, --help       show this help

Environment:
  GDS_ADMIN_USER       user for admin commands (default admin)
  GDS_ADMIN_PASSWORD   its password (required)
  GDS_CLI_PKI_DIR      the CLI's certificate store (default ~/.config/opcua-gds/cli-pki)`;

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

The apps and users commands talk to a running server over OPC UA (SignAndEncrypt).

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
};
