"""A real SMTP server for the call-sheet email tests (tests/tests/crew_mail.rs).

aiosmtpd on 127.0.0.1:PORT. Each accepted message is written to OUT_DIR as one .eml file
(written aside, then renamed, so a reader never sees half a message), decoded as a mail
program shows it: the envelope recipients, From, To, Subject, a blank line and the text
body, so a test reads what the person reads whatever transfer encoding was used. A
recipient whose local part is "bounce" is refused for good (550), as a mail server
refuses an address it does not have.

Usage: python smtp_server.py PORT OUT_DIR [--starttls CERT KEY] [--auth USER:PASSWORD]

--starttls requires STARTTLS with that certificate before anything else; --auth requires
that login (over TLS) before mail is accepted.
"""

import email
import email.policy
import os
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@", 1)[0] == "bounce":
            return "550 5.1.1 <%s>: no such mailbox here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "%d-%d.eml" % (time.time_ns(), self.count)
        path = os.path.join(self.out_dir, name)
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        body = msg.get_body(("plain",))
        text = "".join([
            "X-Envelope-To: %s\n" % ", ".join(envelope.rcpt_tos),
            "From: %s\n" % msg["from"],
            "To: %s\n" % msg["to"],
            "Subject: %s\n" % msg["subject"],
            "\n",
            body.get_content() if body is not None else "",
        ])
        with open(path + ".part", "w", encoding="utf-8") as f:
            f.write(text)
        os.rename(path + ".part", path)
        return "250 Message accepted for delivery"


class Login:
    def __init__(self, user, password):
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user and auth_data.password == self.password)
        return AuthResult(success=ok)


def main():
    port, out_dir = int(sys.argv[1]), sys.argv[2]
    rest = sys.argv[3:]
    options = {}
    while rest:
        flag = rest.pop(0)
        if flag == "--starttls":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(rest.pop(0), rest.pop(0))
            options.update(tls_context=context, require_starttls=True)
        elif flag == "--auth":
            user, password = rest.pop(0).split(":", 1)
            options.update(authenticator=Login(user, password), auth_required=True,
                           auth_require_tls=True)
        else:
            sys.exit("unknown option %s" % flag)
    controller = Controller(Handler(out_dir), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("SMTP_READY", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
