"""Built-in policy documents: the reject-everything default and the demo policy."""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_POLICY_AUTHOR = "nac"

_DEFAULT_POLICY: dict[str, Any] = {
    "results": {
        "deny": {"decision": "reject", "description": "no policy loaded: everything is rejected"}
    },
    "policy_sets": [
        {
            "name": "default",
            "description": (
                "No policy loaded yet: every request is rejected. "
                "Load one with 'nac policy load FILE.json'."
            ),
            "condition": None,
            "authentication": [
                {
                    "name": "local-users",
                    "condition": None,
                    "identity_source": "internal_users",
                    "if_not_found": "reject",
                    "if_failed": "reject",
                }
            ],
            "authorization": [],
            "default_result": "deny",
        }
    ],
}

_DEMO_POLICY: dict[str, Any] = {
    # What posture reports are evaluated against (nac-agent, POST /api/v1/posture/reports):
    # firewall and disk encryption on, antivirus signatures at most 7 days old when the agent
    # reports an antivirus at all. An endpoint may stay unknown for grace_seconds.
    "posture": {
        "description": "demo posture policy",
        "grace_seconds": 3600,
        "requirements": [
            {"id": "firewall", "fact": "firewall.enabled", "op": "is_true", "weight": 80},
            {"id": "disk-encryption", "fact": "disk.encrypted", "op": "is_true", "weight": 70},
            {
                "id": "av-signatures",
                "fact": "av.signature_age_days",
                "op": "at_most",
                "value": 7,
                "weight": 50,
                "when": {"fact": "av.running", "op": "reported"},
            },
        ],
    },
    "results": {
        "employees-vlan100": {"decision": "accept", "vlan": "100"},
        "contractors-vlan200": {"decision": "accept", "vlan": "200", "session_timeout": 3600},
        "printers-vlan300": {"decision": "accept", "vlan": "300"},
        "quarantine-vlan666": {
            "decision": "accept",
            "description": "posture quarantine: remediation only",
            "vlan": "666",
            "filter_id": "quarantine",
        },
        "deny": {"decision": "reject"},
        "netadmins-shell": {
            "decision": "accept",
            "description": "TACACS+: priv-lvl 15, every command",
            "shell_profile": "priv-15",
            "command_set": "permit-all",
        },
        "netops-shell": {
            "decision": "accept",
            "description": "TACACS+: priv-lvl 1, show and ping",
            "shell_profile": "priv-1",
            "command_set": "netops",
        },
    },
    "shell_profiles": {
        "priv-15": {"description": "full administration", "priv_lvl": 15},
        "priv-1": {"description": "operators", "priv_lvl": 1},
    },
    "command_sets": {
        "permit-all": {"description": "every command", "default": "permit"},
        "netops": {
            "description": "look and ping, change nothing",
            "default": "deny",
            "rules": [
                {"action": "permit", "pattern": "show .*"},
                {"action": "permit", "pattern": "ping .*"},
                {"action": "deny", "pattern": "configure .*"},
                {"action": "deny", "pattern": "reload"},
            ],
        },
    },
    "policy_sets": [
        {
            "name": "default",
            "description": "Wired and wireless network access",
            "condition": {"attr": "protocol", "op": "equals", "value": "radius"},
            "authentication": [
                {
                    "name": "mab",
                    "condition": {"attr": "auth.method", "op": "equals", "value": "mab"},
                    "identity_source": "endpoints",
                    "if_not_found": "reject",
                    "if_failed": "reject",
                },
                {
                    # EAP-TLS with a certificate from the built-in CA (nac pki): the
                    # certificate's CN must be a known user, who then gets its group's result.
                    "name": "eap-tls-certificates",
                    "condition": {
                        "all": [
                            {"attr": "auth.method", "op": "equals", "value": "eap-tls"},
                            {"attr": "cert.issuer_cn", "op": "equals", "value": "nac EAP CA"},
                        ]
                    },
                    "identity_source": "internal_users",
                    "if_not_found": "reject",
                    "if_failed": "reject",
                },
                {
                    "name": "local-users",
                    "condition": None,
                    "identity_source": "internal_users",
                    "if_not_found": "reject",
                    "if_failed": "reject",
                },
            ],
            "authorization": [
                {
                    # Employees with a compliant posture, or still unknown within the grace
                    # period (no report yet), get their VLAN; the others are quarantined below.
                    "name": "employees",
                    "condition": {
                        "all": [
                            {"attr": "user.groups", "op": "contains", "value": "employees"},
                            {
                                "any": [
                                    {"attr": "posture.state", "op": "equals", "value": "compliant"},
                                    {"attr": "posture.grace", "op": "equals", "value": True},
                                ]
                            },
                        ]
                    },
                    "result": "employees-vlan100",
                },
                {
                    "name": "contractors",
                    "condition": {"attr": "user.groups", "op": "contains", "value": "contractors"},
                    "result": "contractors-vlan200",
                },
                {
                    "name": "known-printers",
                    "condition": {
                        "all": [
                            {"attr": "auth.method", "op": "equals", "value": "mab"},
                            {"attr": "endpoint.profile", "op": "equals", "value": "printer"},
                        ]
                    },
                    "result": "printers-vlan300",
                },
                {
                    # Non-compliant, or unknown past the grace period: VLAN 666, Filter-Id
                    # quarantine. The live log's trace names the failed checks.
                    "name": "employees-quarantine",
                    "condition": {
                        "all": [
                            {"attr": "user.groups", "op": "contains", "value": "employees"},
                            {
                                "any": [
                                    {
                                        "attr": "posture.state",
                                        "op": "equals",
                                        "value": "non_compliant",
                                    },
                                    {
                                        "all": [
                                            {
                                                "attr": "posture.state",
                                                "op": "equals",
                                                "value": "unknown",
                                            },
                                            {
                                                "attr": "posture.grace",
                                                "op": "equals",
                                                "value": False,
                                            },
                                        ]
                                    },
                                ]
                            },
                        ]
                    },
                    "result": "quarantine-vlan666",
                },
            ],
            "default_result": "deny",
        },
        {
            "name": "device-admin",
            "description": "TACACS+ device administration",
            "condition": {"attr": "protocol", "op": "equals", "value": "tacacs"},
            "authentication": [
                {
                    "name": "local-users",
                    "condition": None,
                    "identity_source": "internal_users",
                    "if_not_found": "reject",
                    "if_failed": "reject",
                }
            ],
            "authorization": [
                {
                    "name": "netadmins",
                    "condition": {"attr": "user.groups", "op": "contains", "value": "netadmins"},
                    "result": "netadmins-shell",
                },
                {
                    "name": "netops",
                    "condition": {"attr": "user.groups", "op": "contains", "value": "netops"},
                    "result": "netops-shell",
                },
            ],
            "default_result": "deny",
        },
    ],
}


def default_policy() -> dict[str, Any]:
    """A fresh copy of the policy that rejects everything (default_result "deny")."""
    return copy.deepcopy(_DEFAULT_POLICY)


def demo_policy() -> dict[str, Any]:
    """A fresh copy of the demo policy."""
    return copy.deepcopy(_DEMO_POLICY)
