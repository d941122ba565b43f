# containerd (ctr) and podman pull from and push to the registry, with a
# private containerd (root, state and socket in a temp folder) and podman
# storage in a temp folder (vfs driver).  Pulls unpack the layers, so the
# bytes really are an image.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(registry_config);
use OciTest::Images qw(run build_image layout_manifest have
                       start_containerd);

plan skip_all => 'skopeo and umoci are needed (scripts/bootstrap --test)'
    unless have('skopeo') && have('umoci');

my $tmp = tempdir(CLEANUP => 1);
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port);
mkdir "$tmp/storage";
$t->write_config(registry_config(workers => 2));
$t->start;
my $reg = '127.0.0.1:' . $t->port;

build_image("$tmp/src", 'v1', 'amd64', { 'hello.txt' => "hello from the test\n" },
            { 'second.txt' => "second layer\n" });
run('skopeo', 'copy', '--dest-tls-verify=false', "oci:$tmp/src:v1",
    "docker://$reg/rt/app:v1");
my $digest = layout_manifest("$tmp/src", 'v1')->{digest};

sub tags { decode_json($t->http->get($t->url("/v2/$_[0]/tags/list"))->{content})->{tags} }

SKIP: {
    skip 'containerd/ctr not installed', 5 unless have('containerd') && have('ctr');

    my $dir = "$tmp/containerd";
    mkdir $dir;
    my $pid = start_containerd($dir);
    ok(-S "$dir/containerd.sock", 'private containerd started');

    my @ctr = ('ctr', '--address', "$dir/containerd.sock");
    my $out = eval { run(@ctr, 'images', 'pull', '--plain-http',
                         '--snapshotter', 'native', "$reg/rt/app:v1") };
    ok(defined $out && $out =~ /unpacking linux\/amd64 \Q$digest\E/,
       'ctr images pull: pulled and unpacked') or diag $@ // $out;

    my $list = run(@ctr, 'images', 'ls');
    like($list, qr/\Q$reg\E\/rt\/app:v1\s+\S+\s+\Q$digest\E/, 'ctr lists it with our digest');

    run(@ctr, 'images', 'tag', "$reg/rt/app:v1", "$reg/rt/ctr:v1");
    $out = eval { run(@ctr, 'images', 'push', '--plain-http', "$reg/rt/ctr:v1") };
    ok(defined $out, 'ctr images push') or diag $@;
    is_deeply(tags('rt/ctr'), ['v1'], 'the pushed tag is listed');

    kill 'TERM', $pid;
    waitpid $pid, 0;
}

SKIP: {
    skip 'podman not installed', 4 unless have('podman');

    my @podman = ('podman', '--root', "$tmp/podman/root", '--runroot',
                  "$tmp/podman/run", '--storage-driver', 'vfs');
    my $out = eval { run(@podman, 'pull', '--tls-verify=false', "$reg/rt/app:v1") };
    ok(defined $out, 'podman pull') or diag $@;

    my $id = eval { run(@podman, 'image', 'inspect', '--format', '{{.Digest}}',
                        "$reg/rt/app:v1") } // '';
    chomp $id;
    is($id, $digest, 'podman has the image under our digest');

    run(@podman, 'tag', "$reg/rt/app:v1", "$reg/rt/podman:v1");
    $out = eval { run(@podman, 'push', '--tls-verify=false', "$reg/rt/podman:v1") };
    ok(defined $out, 'podman push') or diag $@;
    is_deeply(tags('rt/podman'), ['v1'], 'the pushed tag is listed');
}

$t->stop;
$t->check_logs;
done_testing();
