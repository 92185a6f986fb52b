#!/usr/bin/env python3
"""Writes a playbook with N steps (default 10,000) to stdout, for the validation benchmark.

Each step is a realistic accept-invitation with templates that refer to vars and to an
earlier step, so the benchmark exercises the schema and the semantic checks alike.
"""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
out = sys.stdout
out.write("version: 1\nname: bench\nvars:\n  catalog: AWS\n  ids: [engi-0000000000001]\n")
out.write("secrets:\n  token: {env: TOKEN}\nrate-limits:\n  partnercentral-selling: 1/s\nsteps:\n")
out.write("  - id: s0\n    list-invitations: {catalog: \"{{ vars.catalog }}\", status: [PENDING]}\n")
for i in range(1, n):
    out.write(
        f"  - id: s{i}\n"
        f"    name: \"accept {{{{ item }}}} after s{i - 1}\"\n"
        f"    for-each: \"{{{{ vars.ids }}}}\"\n"
        f"    concurrency: 4\n"
        f"    max-failures: 5%\n"
        f"    on-failure: continue\n"
        f"    retry: {{max-attempts: 3, initial-delay: 200ms}}\n"
        f"    accept-invitation:\n"
        f"      catalog: \"{{{{ vars.catalog }}}}\"\n"
        f"      identifier: \"{{{{ item }}}}\"\n"
        f"      tags: [{{key: step, value: s{i}}}]\n"
    )
