"""Runs a command on the connection's host and returns its output, as remoto.process.check does."""

# Runs on the host: receives (argv, stdin bytes or None), answers (stdout, stderr, exit code).
_RUN = '''
import subprocess
argv, data = channel.receive()
try:
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(data)
    channel.send((out, err, p.returncode))
except OSError as e:
    channel.send((b'', str(e).encode(), 127))
'''


def _lines(data):
    return data.decode('utf-8', 'replace').splitlines()


def check(conn, command, exit=False, timeout=None, stdin=None, **kw):
    """Returns (stdout lines, stderr lines, exit code); raises RuntimeError when the host is gone."""
    if isinstance(stdin, str):
        stdin = stdin.encode('utf-8')
    try:
        channel = conn.gateway.remote_exec(_RUN)
        channel.send(([str(a) for a in command], stdin))
        out, err, code = channel.receive(timeout)
    except Exception as e:
        # the mgr module takes RuntimeError as "host unreachable" (execnet raises
        # EOFError, OSError, its RemoteError or TimeoutError for that)
        raise RuntimeError('%s: %s' % (conn.hostname, e))
    finally:
        if exit:
            conn.exit()
    return _lines(out), _lines(err), code
