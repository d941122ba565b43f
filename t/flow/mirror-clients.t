# Real clients through a pull-through mirror of a real upstream (Debian's
# docker-registry seeded with "library/nginx:1.25" and "library/busy:1"
# as Docker Hub would hold them).  There is no Docker Hub here, so a
# client that did not use the mirror fails:
#   - containerd: ctr with a hosts.toml mirror for docker.io (it sends
#     ?ns=docker.io on every request),
#   - podman: a registries.conf mirror for docker.io,
#   - Docker Engine: registry-mirrors, "docker pull nginx:1.25".
# Then Docker Engine's plain login, push and pull against the registry as
# `make run` and `make run-auth` configure it.

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
use OciTest::Upstream;
use OciTest::Registry qw(registry_config);
use OciTest::Auth qw(auth_setup auth_config);
use OciTest::Images qw(run build_image layout_manifest have
                       start_containerd);

plan skip_all => 'docker-registry, skopeo and umoci are needed '
               . '(scripts/bootstrap --test)'
    unless OciTest::Upstream->available && have('skopeo') && have('umoci');

my $tmp = tempdir('oci-mc-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $redis = OciTest::Redis->start();
my $up = OciTest::Upstream->start();
mkdir "$tmp/storage";

my $mirror_location = OciTest::Upstream::mirror_location();

my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port, UP => $up->port);
$t->write_config(registry_config(
    workers => 2,
    extra => 'oci_registry_mirror dockerhub http://127.0.0.1:%%UP%% '
           . 'ns=docker.io default;',
    server_extra => $mirror_location));
$t->start;
my $mirror = '127.0.0.1:' . $t->port;

my @tls = ('--src-tls-verify=false', '--dest-tls-verify=false');
build_image("$tmp/nginx", '1.25', 'amd64', { 'index.html' => "hi\n" },
            { 'nginx.conf' => "events {}\n" });
build_image("$tmp/busy", '1', 'amd64', { 'busy.txt' => "busy\n" });
run('skopeo', 'copy', @tls, "oci:$tmp/nginx:1.25",
    'docker://' . $up->addr . '/library/nginx:1.25');
run('skopeo', 'copy', @tls, "oci:$tmp/busy:1",
    'docker://' . $up->addr . '/library/busy:1');
my $nginx_digest = layout_manifest("$tmp/nginx", '1.25')->{digest};
my $busy_digest = layout_manifest("$tmp/busy", '1')->{digest};

sub access_log { OciTest::Upstream::settled($t->dir . '/logs/access.log') }

SKIP: {
    skip 'containerd/ctr not installed', 4
        unless have('containerd') && have('ctr');

    my $dir = "$tmp/containerd";
    mkdir $dir;
    mkdir "$dir/certs.d";
    mkdir "$dir/certs.d/docker.io";
    open my $h, '>', "$dir/certs.d/docker.io/hosts.toml" or die;
    print $h <<"EOF2";
server = "https://registry-1.docker.io"

[host."http://$mirror"]
  capabilities = ["pull", "resolve"]
EOF2
    close $h;
    my $pid = start_containerd($dir);
    ok(-S "$dir/containerd.sock", 'private containerd started');

    my @ctr = ('ctr', '--address', "$dir/containerd.sock");
    my $out = eval { run(@ctr, 'images', 'pull', '--hosts-dir',
                         "$dir/certs.d", '--snapshotter', 'native',
                         'docker.io/library/nginx:1.25') };
    ok(defined $out && $out =~ /unpacking linux\/amd64 \Q$nginx_digest\E/,
       'ctr pulls docker.io/library/nginx:1.25 through the mirror')
        or diag $@ // $out;
    like(access_log(),
         qr{(?:HEAD|GET) /v2/library/nginx/manifests/1\.25\?ns=docker\.io HTTP},
         'asking with ?ns=docker.io');
    like(access_log(), qr{GET /v2/library/nginx/blobs/sha256:\w+\?ns=docker\.io HTTP/1.1" 200},
         'its blobs too');

    kill 'TERM', $pid;
    waitpid $pid, 0;
}

SKIP: {
    skip 'podman not installed', 3 unless have('podman');

    open my $rc, '>', "$tmp/registries.conf" or die;
    print $rc <<"EOF2";
[[registry]]
prefix = "docker.io"
location = "docker.io"

[[registry.mirror]]
location = "$mirror"
insecure = true
EOF2
    close $rc;
    local $ENV{CONTAINERS_REGISTRIES_CONF} = "$tmp/registries.conf";

    my @podman = ('podman', '--root', "$tmp/podman/root", '--runroot',
                  "$tmp/podman/run", '--storage-driver', 'vfs');
    my $out = eval { run(@podman, 'pull', 'docker.io/library/busy:1') };
    ok(defined $out, 'podman pulls docker.io/library/busy:1 through the '
       . 'mirror') or diag $@;
    my $id = eval { run(@podman, 'image', 'inspect', '--format',
                        '{{.Digest}}', 'docker.io/library/busy:1') } // '';
    chomp $id;
    is($id, $busy_digest, 'with the upstream\'s digest');
    like(access_log(), qr{GET /v2/library/busy/manifests/1 HTTP},
         'asking the default mirror');
}

# --- Docker Engine, private: no iptables, no bridge, vfs

my $docker_ok = have('dockerd') && have('docker');

SKIP: {
    skip 'docker.io (dockerd) not installed', 11 unless $docker_ok;

    my $dir = "$tmp/docker";
    mkdir $dir;
    open my $dj, '>', "$dir/daemon.json" or die;
    print $dj encode_json({ 'registry-mirrors' => ["http://$mirror"] });
    close $dj;

    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$dir/log"; open STDERR, '>&', \*STDOUT;
        { exec 'dockerd', '--config-file', "$dir/daemon.json",
               '--iptables=false', '--ip6tables=false', '--bridge=none',
               '--storage-driver=vfs', '--data-root', "$dir/data",
               '--exec-root', "$dir/exec", '--pidfile', "$dir/docker.pid",
               '--host', "unix://$dir/docker.sock" }
        POSIX::_exit(127);
    }
    my $up_ok;
    for (1 .. 300) {
        if (-S "$dir/docker.sock"
            && !system("dockerd --version >/dev/null 2>&1")
            && !system("docker -H unix://$dir/docker.sock version "
                       . ">/dev/null 2>&1")) { $up_ok = 1; last }
        sleep 0.1;
    }
    ok($up_ok, 'a private dockerd started')
        or diag do { local (@ARGV, $/) = ("$dir/log"); <> };

    local $ENV{DOCKER_CONFIG} = "$dir/client";
    # Debian's docker CLI (docker.io), not another one on the PATH
    my $cli = -x '/usr/bin/docker' ? '/usr/bin/docker' : 'docker';
    my @docker = ($cli, '-H', "unix://$dir/docker.sock");

    my $out = eval { run(@docker, 'pull', 'nginx:1.25') };
    ok(defined $out && $out =~ /Digest: \Q$nginx_digest\E/,
       'docker pull nginx:1.25 through registry-mirrors')
        or diag $@ // $out;
    like(access_log(), qr{(?:HEAD|GET) /v2/library/nginx/manifests/1\.25 HTTP},
         'as library/nginx');
    my $r = $t->http->request('POST',
                              $t->url('/v2/library/nginx/blobs/uploads/'));
    is($r->{status}, 405, 'the mirror itself takes no push');

    # the CI workflow: docker push and pull against `make run`'s registry
    my $plain = OciTest::Nginx->new();
    mkdir "$tmp/plainstore";
    $plain->set(STORAGE => "$tmp/plainstore", REDIS => $redis->port);
    $plain->write_config(registry_config(workers => 2));
    $plain->start;
    my $preg = '127.0.0.1:' . $plain->port;
    $out = eval { run(@docker, 'tag', 'nginx:1.25', "$preg/ci/app:v1");
                  run(@docker, 'push', "$preg/ci/app:v1") };
    ok(defined $out, 'docker push to the registry') or diag $@;
    eval { run(@docker, 'rmi', "$preg/ci/app:v1") };
    $out = eval { run(@docker, 'pull', "$preg/ci/app:v1") };
    ok(defined $out && $out =~ /Digest: sha256:/, 'docker pull of it')
        or diag $@;
    $plain->stop;
    $plain->check_logs;

    # and against `make run-auth`: token auth, docker login
    my $r2 = OciTest::Redis->start();
    my $a = OciTest::Nginx->new();
    mkdir "$tmp/authstore";
    $a->set(STORAGE => "$tmp/authstore", REDIS => $r2->port,
            AUTH => auth_setup("$tmp/auth"));
    $a->write_config(auth_config(private => 1));
    $a->start;
    my $areg = '127.0.0.1:' . $a->port;

    $out = eval { run(@docker, 'tag', 'nginx:1.25', "$areg/demo/app:v1");
                  run(@docker, 'push', "$areg/demo/app:v1") };
    ok(!defined $out, 'without login a push is refused');
    $out = eval { run("echo demo | @docker login --username demo "
                      . "--password-stdin $areg") };
    ok(defined $out && $out =~ /Login Succeeded/, 'docker login')
        or diag $@ // '';
    $out = eval { run(@docker, 'push', "$areg/demo/app:v1") };
    ok(defined $out, 'docker push with the token') or diag $@;
    eval { run(@docker, 'rmi', "$areg/demo/app:v1") };
    $out = eval { run(@docker, 'pull', "$areg/demo/app:v1") };
    ok(defined $out, 'docker pull with it') or diag $@;
    $a->stop;

    kill 'TERM', $pid;
    waitpid $pid, 0;
    system("umount $dir/data/vfs/dir/* $dir/exec/* >/dev/null 2>&1");
}

$t->stop;
$t->check_logs;
done_testing();
