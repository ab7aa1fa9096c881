"""SSH connections through execnet gateways, one per host."""
import execnet
import execnet.gateway_bootstrap


class LegacyModuleExecute(object):
    """
    Calls functions of a module shipped to the host: the module runs in
    execnet's channelexec loop (cephadm's remotes.py evaluates each received
    "name(args)" string and sends back the value), so a call is one send and
    one receive on its channel.
    """

    def __init__(self, gateway, module, logger=None):
        self.channel = gateway.remote_exec(module)
        self.module = module
        self.logger = logger

    def __getattr__(self, name):
        if not hasattr(self.module, name):
            raise AttributeError(name)

        def call(*args):
            self.channel.send('%s(%s)' % (name, ', '.join(repr(a) for a in args)))
            return self.channel.receive()
        return call


class BaseConnection(object):
    def __init__(self, hostname, logger=None, sudo=False, threads=1, eager=True,
                 detect_sudo=False, use_ssh=False, interpreter=None, ssh_options=None):
        self.hostname = hostname
        self.logger = logger
        self.sudo = sudo
        self.ssh_options = ssh_options
        self.interpreter = interpreter or 'python3'
        self.remote_module = None
        self.gateway = self._make_gateway()

    def _make_gateway(self):
        # execnet splits the ssh= value on whitespace into ssh's own arguments
        python = ('sudo ' if self.sudo else '') + self.interpreter
        spec = 'ssh=%s %s//python=%s' % (self.ssh_options or '', self.hostname, python)
        try:
            return execnet.makegateway(spec.replace('ssh= ', 'ssh=', 1))
        except OSError as e:
            # ssh that dies before execnet has written its bootstrap (connection refused)
            # shows as a broken pipe: the same "host not reachable" as execnet's own error
            raise execnet.gateway_bootstrap.HostNotFound('%s: %s' % (self.hostname, e))

    def has_connection(self):
        return bool(self.gateway) and self.gateway.hasreceiver()

    def import_module(self, module):
        self.remote_module = LegacyModuleExecute(self.gateway, module, self.logger)
        return self.remote_module

    def exit(self):
        if self.gateway:
            self.gateway.exit()
            self.gateway = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.exit()
        return False


Connection = BaseConnection
