"""Mail to each site's contact: events collected from orders and alerts, a durable outbox
in central's database, SMTP delivery, French and English templates, packing slips.

    render   templates (text + HTML, autoescaped), dates and numbers by Babel
    smtp     the settings and the one SMTP client (STARTTLS or TLS, credentials as secrets)
    sender   MailSender.run_once(): collect events, compose messages, deliver the due ones
"""
