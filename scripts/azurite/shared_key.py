"""One Shared Key signed request to the Azurite blob emulator, with the standard library only.

    python3 scripts/azurite/shared_key.py METHOD URL [--header NAME:VALUE]... [--data TEXT] [--expect STATUS]...

URL is path style, as Azurite serves it: http://127.0.0.1:PORT/devstoreaccount1/CONTAINER[/BLOB][?QUERY]. The request
is signed with the emulator's well-known account and key (public, the same on every machine). Prints the HTTP status;
exits 0 when it is one of the --expect statuses (default: any 2xx), 1 otherwise (the response body goes to stderr).
scripts/services.sh creates the test container with it.
"""

import argparse
import base64
import email.utils
import hashlib
import hmac
import sys
import urllib.error
import urllib.parse
import urllib.request

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
API_VERSION = "2021-08-06"


def string_to_sign(method, url, headers, length):
    """The Shared Key string to sign (Blob service, version 2015-02-21 and later: a zero length is empty)."""
    h = {k.lower(): v for k, v in headers.items()}
    parts = urllib.parse.urlsplit(url)
    lines = [
        method,
        h.get("content-encoding", ""),
        h.get("content-language", ""),
        str(length) if length else "",
        h.get("content-md5", ""),
        h.get("content-type", ""),
        "",  # Date: x-ms-date is sent instead
        h.get("if-modified-since", ""),
        h.get("if-match", ""),
        h.get("if-none-match", ""),
        h.get("if-unmodified-since", ""),
        h.get("range", ""),
    ]
    canonical_headers = "".join(f"{k}:{h[k].strip()}\n" for k in sorted(h) if k.startswith("x-ms-"))
    # Path style (the emulator's): the account is named once for the resource and once more in the path.
    resource = f"/{ACCOUNT}{parts.path}"
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    for name in sorted(query, key=str.lower):
        resource += f"\n{name.lower()}:{','.join(sorted(query[name]))}"
    return "\n".join(lines) + "\n" + canonical_headers + resource


def request(method, url, headers=None, data=b""):
    """Sends the signed request; returns (status, body)."""
    headers = dict(headers or {})
    headers["x-ms-date"] = email.utils.formatdate(usegmt=True)
    headers["x-ms-version"] = API_VERSION
    if method in ("PUT", "POST") and not any(k.lower() == "content-type" for k in headers):
        # urllib would send a form content type, which the signature has to name: name one here.
        headers["Content-Type"] = "application/octet-stream"
    signature = hmac.new(base64.b64decode(KEY), string_to_sign(method, url, headers, len(data)).encode(), hashlib.sha256)
    headers["Authorization"] = f"SharedKey {ACCOUNT}:{base64.b64encode(signature.digest()).decode()}"
    req = urllib.request.Request(url, data=data if method in ("PUT", "POST") else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("method")
    parser.add_argument("url")
    parser.add_argument("--header", action="append", default=[], help="NAME:VALUE")
    parser.add_argument("--data", default="")
    parser.add_argument("--expect", action="append", type=int, default=[])
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    status, body = request(args.method.upper(), args.url, headers, args.data.encode())
    print(status)
    if (status in args.expect) if args.expect else (200 <= status < 300):
        return 0
    sys.stderr.write(body.decode(errors="replace") + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
