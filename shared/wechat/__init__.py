"""The operator's WeChat official account: its HTTP API (`api`) and its one access token (`token`).

Auth uses them to make the QR codes users scan to bind WeChat; the dispatcher to send template messages.
"""
