"""The dealer's console under /console: server-rendered pages (Jinja2, autoescaped, no
script) for the people who pack parcels and answer customers.

    routes     the one router: every page module, listed
    auth       sessions, roles and what each may do, CSRF, refusals audited
    guard      sign-in throttling per address and per account
    passwords  argon2 hashes
    render     templates and the headers every answer carries
    errors     refusals and missing pages answered as pages
    account    sign-in and out, the audit log
    orders     the packing queue, ship / deliver / cancel, history, CSV
    fleet      sites and printers (supplies, badges, filters), a printer, alerts
    agents     enrolled agents, revocation, enrollment tokens
    registry   the registry counted, YAML import with its errors in place

Kept import-light: `routes` pulls in the pages.
"""
