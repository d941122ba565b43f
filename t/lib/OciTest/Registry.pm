package OciTest::Registry;

# Small helpers for flow tests that talk to the registry: a standard
# config template and the requests every flow needs.  They return
# HTTP::Tiny responses; the tests assert on them.

use strict;
use warnings;
use Exporter 'import';
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET ();
use Time::HiRes ();
use OciTest::Redis;
use OciTest::ClusterClient;

our @EXPORT_OK = qw(registry_config registry_redis sha256 push_blob start_upload
                    put_manifest raw_request half_sent);

sub sha256 { 'sha256:' . sha256_hex($_[0]) }

# A config for OciTest::Nginx: %%STORAGE%% and %%REDIS%% are set by the
# test (a storage root two instances may share, a private Redis port).
sub registry_config {
    my (%o) = @_;
    my $workers = $o{workers} // 1;
    my $extra = $o{extra} // '';
    # lines for the server block and the http block (other locations, say)
    my $server_extra = $o{server_extra} // '';
    my $http_extra = $o{http_extra} // '';
    # parameters of oci_registry_redis after the address (timeout=...)
    my $redis_args = $o{redis_args} // '';
    # or all of them, the address too (sentinel=... master=...)
    my $redis = $o{redis} // "127.0.0.1:%%REDIS%% $redis_args";
    # OCI_TEST_CLUSTER: the seeds of a Redis Cluster the flows share
    # (scripts/test.sh --cluster), each test under a key prefix of its own
    if (!defined $o{redis} && $ENV{OCI_TEST_CLUSTER}) {
        $redis = "$ENV{OCI_TEST_CLUSTER} $redis_args";
        $extra = "oci_registry_key_prefix t$$:;\n            $extra";
    }
    # the commit's thread pool: our directive, or (aio => 1) "aio threads",
    # or (threads => 0) none
    my $threads = $o{aio} ? "aio threads;" : "oci_registry_thread_pool default;";
    $threads = '' if defined $o{threads} && !$o{threads};
    return <<"EOF";
%%GLOBALS%%
master_process on;
worker_processes $workers;
events { worker_connections 256; }
http {
    %%HTTP_GLOBALS%%
    $http_extra
    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 0;
        client_body_buffer_size 64k;
        $server_extra
        location /v2/ {
            oci_registry;
            oci_registry_storage %%STORAGE%%;
            oci_registry_redis $redis;
            $threads
            $extra
        }
    }
}
EOF
}

# The flow's Redis: a private redis-server (OciTest::Redis->start's
# options), or with OCI_TEST_CLUSTER the shared cluster, whose keys the
# flow's commands name as they are there (OciTest::ClusterClient)
sub registry_redis {
    my (%opt) = @_;
    return OciTest::ClusterClient->new($ENV{OCI_TEST_CLUSTER}, "t$$:")
        if $ENV{OCI_TEST_CLUSTER};
    return OciTest::Redis->start(%opt);
}

sub push_blob {
    my ($t, $repo, $bytes) = @_;
    my $d = sha256($bytes);
    return $t->http->request('POST',
        $t->url("/v2/$repo/blobs/uploads/?digest=$d"),
        { content => $bytes,
          headers => { 'Content-Type' => 'application/octet-stream' } });
}

# POST a session; returns the Location (relative) or undef
sub start_upload {
    my ($t, $repo, $query) = @_;
    my $r = $t->http->request('POST',
        $t->url("/v2/$repo/blobs/uploads/" . ($query // '')));
    return $r->{status} == 202 ? $r->{headers}{location} : undef;
}

# A request sent exactly as written (bad chunks, lying headers); reads to
# EOF.  Returns (status, headers as one lowercased-key hash, body); status
# 0 when the connection closed without an answer.
sub raw_request {
    my ($t, $req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port,
                                  Timeout => 10)
        or die "connect: $!";
    print $s $req;
    local $/;
    my $resp = <$s> // '';
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d{3})};
    my %h;
    for (split /\r\n/, $head // '') {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    return ($status // 0, \%h, $body // '');
}

# A request whose body is half sent, so that something can happen while
# nginx holds it (a DELETE, another node's chunk).  The returned sub sends
# the rest and reads the answer: (status, body), status 0 without one.
sub half_sent {
    my ($t, $line, $bytes) = @_;
    my $half = int(length($bytes) / 2);
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port,
                                  Timeout => 30)
        or die "connect: $!";
    print $s "$line HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           . "Content-Length: " . length($bytes) . "\r\n\r\n"
           . substr($bytes, 0, $half);
    Time::HiRes::sleep(0.5);
    return sub {
        local $SIG{PIPE} = 'IGNORE';         # nginx may be gone meanwhile
        print $s substr($bytes, $half);
        local $/;
        my $resp = <$s> // '';
        my ($status) = $resp =~ m{^HTTP/1\.\d (\d{3})};
        my ($body) = $resp =~ /\r\n\r\n(.*)\z/s;
        return ($status // 0, $body // '');
    };
}

sub put_manifest {
    my ($t, $repo, $ref, $body, $type) = @_;
    return $t->http->request('PUT', $t->url("/v2/$repo/manifests/$ref"),
        { content => $body,
          headers => { 'Content-Type' =>
                       $type // 'application/vnd.oci.image.manifest.v1+json' } });
}

1;
