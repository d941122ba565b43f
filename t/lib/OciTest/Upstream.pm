package OciTest::Upstream;

# A real peer registry for the mirror tests: Debian's docker-registry
# (distribution 2.8), open or with htpasswd Basic auth, on a free port,
# with its own storage.  Its log (one line per request) lets a test count
# what the mirror asked of it.

use strict;
use warnings;
use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();
use OciTest::Nginx;

sub available { !system('command -v docker-registry >/dev/null 2>&1') }

# The mirror location a registry config needs (docs/configuration.md,
# oci_registry_mirror_location), for a test's server block; %o adds
# directives (proxy_read_timeout => '10s', ...).
sub mirror_location {
    my (%o) = @_;
    my $extra = join '', map { "    $_ $o{$_};\n" } sort keys %o;
    return <<'EOF' . $extra . "}\n";
location = /_oci_mirror {
    internal;
    proxy_pass $oci_mirror_url;
    proxy_pass_request_headers off;
    proxy_pass_request_body off;
    proxy_set_header Authorization $oci_mirror_authorization;
    proxy_set_header Accept $oci_mirror_accept;
    proxy_set_header Range $oci_mirror_range;
    proxy_http_version 1.1;
    proxy_buffering off;
EOF
}

sub start {
    my ($class, %o) = @_;
    my $dir = File::Temp::tempdir('oci-upstream-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    my $self = bless { dir => $dir, port => OciTest::Nginx::free_port(),
                       %o }, $class;
    my $auth = '';
    if ($o{user}) {
        system("htpasswd -Bbc $dir/htpasswd $o{user} $o{password} "
               . ">/dev/null 2>&1") == 0 or die "htpasswd failed";
        $auth = "auth:\n  htpasswd:\n    realm: upstream\n"
              . "    path: $dir/htpasswd\n";
    }
    open my $f, '>', "$dir/config.yml" or die $!;
    print $f <<"EOF2";
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$self->{port}
$auth
EOF2
    close $f;
    return $self->_spawn;
}

sub _spawn {
    my ($self) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$self->{dir}/log" or die;
        open STDERR, '>&', \*STDOUT or die;
        { exec 'docker-registry', 'serve', "$self->{dir}/config.yml" }
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    for (1 .. 200) {
        return $self if IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $self->{port});
        Time::HiRes::sleep(0.05);
    }
    die "docker-registry did not start:\n" . $self->log;
}

sub port { $_[0]{port} }
sub addr { "127.0.0.1:$_[0]{port}" }
sub url  { "http://127.0.0.1:$_[0]{port}" }
sub dir  { $_[0]{dir} }

sub log { settled("$_[0]{dir}/log") }

# A log file once it stopped growing: a server writes a request's line
# after the answer went, so a client can be faster than the line.  Read
# until two reads 50 ms apart agree (at most 2 s).
sub settled {
    my ($path) = @_;
    my $read = sub {
        open my $f, '<', $path or return '';
        local $/;
        return scalar(<$f>) // '';
    };
    my $text = $read->();
    for (1 .. 40) {
        Time::HiRes::sleep(0.05);
        my $again = $read->();
        return $again if $again eq $text;
        $text = $again;
    }
    return $text;
}

# the requests (its access log's lines) for a path, by method
sub count {
    my ($self, $method, $path) = @_;
    my $n = () = $self->log =~ /"\Q$method $path\E HTTP/g;
    return $n;
}

sub kill9 {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub stop { $_[0]->kill9 }
sub start_again { $_[0]->_spawn }

# the file of a blob in its storage (to corrupt it)
sub blob_file {
    my ($self, $digest) = @_;
    my ($hex) = $digest =~ /^sha256:([0-9a-f]{64})$/ or die $digest;
    return "$self->{dir}/data/docker/registry/v2/blobs/sha256/"
         . substr($hex, 0, 2) . "/$hex/data";
}

sub DESTROY { $_[0]->kill9 }

1;
