# Real clients, unchanged: skopeo pushes and pulls images built locally
# with umoci (a multi-layer image with a 64 MiB layer, a multi-arch
# index), inspects, lists and deletes; copies between repositories
# (cross-repo mount); the docker CLI reads the index daemonless.  All
# through two registry nodes behind a round-robin nginx load balancer, so
# the requests of one upload land on different nodes.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config);
use OciTest::Images qw(run build_image make_index layout_manifest read_blob
                       have);

plan skip_all => 'skopeo and umoci are needed (scripts/bootstrap --test)'
    unless have('skopeo') && have('umoci');

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start();
my $storage = "$tmp/storage";
mkdir $storage;

my @nodes;
for (1 .. 2) {
    my $t = OciTest::Nginx->new();
    $t->set(STORAGE => $storage, REDIS => $redis->port);
    $t->write_config(registry_config(workers => 2));
    $t->start;
    push @nodes, $t;
}

my $lb = OciTest::Nginx->new();
$lb->set(N1 => $nodes[0]->port, N2 => $nodes[1]->port);
$lb->write_config(<<'EOF');
%%GLOBALS%%
master_process off;
events { worker_connections 256; }
http {
    %%HTTP_GLOBALS%%
    upstream registry {
        server 127.0.0.1:%%N1%%;
        server 127.0.0.1:%%N2%%;
    }
    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 0;
        proxy_request_buffering off;
        location / {
            proxy_pass http://registry;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
        }
    }
}
EOF
$lb->start;

my $reg = '127.0.0.1:' . $lb->port;
my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');
sub skopeo { run('skopeo', @_) }

# --- a two-layer image, one layer 64 MiB of incompressible bytes

my $big = do {
    open my $u, '<', '/dev/urandom' or die;
    read($u, my $b, 64 * 1024 * 1024) == 64 * 1024 * 1024 or die;
    $b;
};
my $src = "$tmp/src";
build_image($src, 'v1', 'amd64', { 'small.txt' => "hello\n" },
            { 'big.bin' => $big });
undef $big;

skopeo('copy', @tls, "oci:$src:v1", "docker://$reg/ns/app:v1");
pass('skopeo copy oci -> registry');

skopeo('copy', @tls, "docker://$reg/ns/app:v1", "oci:$tmp/back:v1");
my ($m1, $m2) = (layout_manifest($src, 'v1'), layout_manifest("$tmp/back", 'v1'));
is($m2->{digest}, $m1->{digest}, 'pulled manifest has the pushed digest');
my $manifest = decode_json(read_blob($src, $m1->{digest}));
is(scalar @{ $manifest->{layers} }, 2, 'two layers');
for my $l ($manifest->{config}, @{ $manifest->{layers} }) {
    ok(read_blob("$tmp/back", $l->{digest}) eq read_blob($src, $l->{digest}),
       "blob $l->{digest} ($l->{size} bytes) byte-identical");
}

my $inspect = decode_json(skopeo('inspect', '--tls-verify=false',
                                 "docker://$reg/ns/app:v1"));
is($inspect->{Digest}, $m1->{digest}, 'skopeo inspect: digest');
is($inspect->{Architecture}, 'amd64', 'skopeo inspect: architecture');
is(scalar @{ $inspect->{Layers} }, 2, 'skopeo inspect: layers');

# --- between repositories: blobs are mounted, not uploaded again

my $out = skopeo('copy', @tls, "docker://$reg/ns/app:v1", "docker://$reg/other/app:v2");
my $access = join '', map { OciTest::Images::read_file($_->dir . '/logs/access.log') } @nodes;
my @mounts = $access =~ m{"POST /v2/other/app/blobs/uploads/\?\S*mount=\S+ HTTP/1.1" 201}g;
is(scalar @mounts, 2, 'copy to another repository mounts both layers (201)')
    or diag $access;
my $big_d = $manifest->{layers}[1]{digest};
$big_d =~ s/:/%3A/;
unlike($access, qr{"PUT /v2/other/app/blobs/uploads/\S+digest=\Q$big_d\E},
       'the 64 MiB layer was not uploaded again');
my $tags = decode_json(skopeo('list-tags', '--tls-verify=false',
                              "docker://$reg/other/app"));
is_deeply($tags->{Tags}, ['v2'], 'skopeo list-tags');

skopeo('delete', '--tls-verify=false', "docker://$reg/other/app:v2");
ok(system("skopeo inspect --tls-verify=false docker://$reg/other/app:v2 >/dev/null 2>&1") != 0,
   'skopeo delete: the image is gone');
ok(!system("skopeo inspect --tls-verify=false docker://$reg/ns/app:v1 >/dev/null 2>&1"),
   'the source repository is untouched');

# --- multi-arch: an OCI index with amd64 and arm64 children

build_image($src, 'amd', 'amd64', { 'arch' => "amd64\n" });
build_image($src, 'arm', 'arm64', { 'arch' => "arm64\n" });
my $index_d = make_index($src, 'multi', amd => 'amd64', arm => 'arm64');

skopeo('copy', '--all', @tls, "oci:$src:multi", "docker://$reg/ns/multi:v1");
pass('skopeo copy --all of an index');

my $raw = skopeo('inspect', '--raw', '--tls-verify=false', "docker://$reg/ns/multi:v1");
is($raw, read_blob($src, $index_d), 'skopeo inspect --raw: the index, byte for byte');

skopeo('copy', '--override-arch', 'arm64', @tls, "docker://$reg/ns/multi:v1",
       "oci:$tmp/arm:x");
is(layout_manifest("$tmp/arm", 'x')->{digest}, layout_manifest($src, 'arm')->{digest},
   '--override-arch arm64 pulls the arm64 image');

SKIP: {
    skip 'no docker CLI', 6 unless have('docker');
    local $ENV{DOCKER_CONFIG} = "$tmp/docker";
    my $j = `docker manifest inspect --insecure $reg/ns/multi:v1 2>&1`;
    is($?, 0, 'docker manifest inspect (no daemon)') or diag $j;
    my $doc = eval { decode_json($j) } || {};
    is_deeply([ sort map { $_->{platform}{architecture} } @{ $doc->{manifests} || [] } ],
              [ 'amd64', 'arm64' ], 'docker sees both platforms');

    # a Docker manifest list over Docker schema 2 images, made by the CLI
    for my $arch ('amd', 'arm') {
        skopeo('copy', '--format', 'v2s2', @tls, "oci:$src:$arch",
               "docker://$reg/ns/docker:$arch");
    }
    my $o = `docker manifest create --insecure $reg/ns/docker:list $reg/ns/docker:amd $reg/ns/docker:arm 2>&1`;
    is($?, 0, 'docker manifest create') or diag $o;
    $o = `docker manifest push --insecure $reg/ns/docker:list 2>&1`;
    is($?, 0, 'docker manifest push') or diag $o;
    my $r = $nodes[0]->http->get($nodes[0]->url('/v2/ns/docker/manifests/list'));
    is($r->{headers}{'content-type'},
       'application/vnd.docker.distribution.manifest.list.v2+json',
       'stored as a Docker manifest list');
    is(scalar @{ decode_json($r->{content})->{manifests} }, 2, 'with both platforms');
}

# the blobs of all pushes are where every node finds them
$out = skopeo('copy', @tls, "docker://127.0.0.1:" . $nodes[1]->port . "/ns/app:v1",
              "oci:$tmp/node2:v1");
is(layout_manifest("$tmp/node2", 'v1')->{digest}, $m1->{digest},
   'a node pulls what went through the balancer');

$lb->stop;
$_->stop for @nodes;
$_->check_logs for @nodes;
done_testing();
