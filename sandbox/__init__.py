"""Local sandboxes of the providers Tempwork talks to (Stripe now; Twilio, SendGrid, checks next).

`python -m sandbox` serves them; `sandbox.testing.running_sandbox` runs them inside tests.
"""
