"""Central's pure rules: no SQL, no HTTP.

    policy  when a supply is ordered      alerts  what raises an alert
    trust   what an agent may speak for, and when
    placement  which supplies are ordered, for which site and contact
"""
