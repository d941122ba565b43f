# skopeo through the whole token flow, unchanged: challenge, token
# request with --creds, retry with the bearer token; pushes, pulls,
# copies between repositories (a mount with a second scope), deletes;
# and the refusals a user sees when the policy does not allow it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Auth qw(auth_setup auth_config);
use OciTest::Images qw(build_image layout_manifest have);

plan skip_all => 'skopeo and umoci are needed (scripts/bootstrap --test)'
    unless have('skopeo') && have('umoci');

my $tmp = tempdir(CLEANUP => 1);
mkdir "$tmp/storage";
my $keys = auth_setup("$tmp/auth");
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port, AUTH => $keys);
$t->write_config(auth_config(workers => 2));
$t->start;

my $reg = '127.0.0.1:' . $t->port;

# skopeo's exit status and all it printed; never dies
sub skopeo {
    my $out = `skopeo @_ 2>&1`;
    return ($? == 0, $out);
}

my $src = "$tmp/src";
build_image($src, 'v1', 'amd64', { 'a.txt' => "hello\n" },
            { 'b.bin' => join('', map { chr(($_ * 7) % 251) } 1 .. 300000) });
my $digest = layout_manifest($src, 'v1')->{digest};

my ($ok, $out) = skopeo('copy --dest-tls-verify=false --dest-creds demo:demo',
                        "oci:$src:v1 docker://$reg/demo/app:v1");
ok($ok, 'skopeo copy --dest-creds demo:demo pushes demo/app') or diag $out;

($ok, $out) = skopeo('inspect --tls-verify=false --creds demo:demo',
                     "docker://$reg/demo/app:v1");
ok($ok, 'skopeo inspect with credentials') or diag $out;
is(eval { decode_json($out)->{Digest} }, $digest, 'sees the pushed digest');

($ok, $out) = skopeo('inspect --tls-verify=false --no-creds',
                     "docker://$reg/demo/app:v1");
ok(!$ok, 'without credentials demo/app is not readable');
like($out, qr/unauthorized|authentication required|denied/i, 'skopeo says why');

($ok, $out) = skopeo('copy --src-tls-verify=false --src-creds reader:reader',
                     "docker://$reg/demo/app:v1 oci:$tmp/back:v1");
ok($ok, 'reader pulls demo/app') or diag $out;
is(layout_manifest("$tmp/back", 'v1')->{digest}, $digest, 'the same image');

($ok, $out) = skopeo('copy --dest-tls-verify=false --dest-creds reader:reader',
                     "oci:$src:v1 docker://$reg/demo/app:v2");
ok(!$ok, 'reader cannot push');
like($out, qr/denied/i, 'skopeo reports the denial') or diag $out;

($ok, $out) = skopeo('copy --dest-tls-verify=false --dest-creds demo:wrong',
                     "oci:$src:v1 docker://$reg/demo/app:v3");
ok(!$ok, 'a wrong password cannot push');
like($out, qr/401|unauthorized/i, 'and is told it is unauthorized') or diag $out;

($ok, $out) = skopeo('copy --dest-tls-verify=false --dest-creds demo:demo',
                     "oci:$src:v1 docker://$reg/team/app:v1");
ok(!$ok, 'demo cannot push outside demo/*');

# between repositories: the token asks for pull on the source as well
($ok, $out) = skopeo('copy --src-tls-verify=false --dest-tls-verify=false',
                     '--src-creds demo:demo --dest-creds demo:demo',
                     "docker://$reg/demo/app:v1 docker://$reg/demo/copy:v1");
ok($ok, 'skopeo copies demo/app to demo/copy') or diag $out;
my $access = do { local (@ARGV, $/) = $t->dir . '/logs/oci.log'; <> };
like($access, qr{^demo\|repository:demo/copy:pull,push repository:demo/app:pull\|POST /v2/demo/copy/blobs/uploads/\?\S*mount=\S+ HTTP/1.1\|201$}m,
     'the layers were mounted with a token covering both repositories');

($ok, $out) = skopeo('delete --tls-verify=false --creds demo:demo',
                     "docker://$reg/demo/copy:v1");
ok(!$ok, 'demo may not delete (the policy gives pull,push)');
($ok, $out) = skopeo('delete --tls-verify=false --creds admin:admin',
                     "docker://$reg/demo/copy:v1");
ok($ok, 'admin deletes') or diag $out;

# public images: anyone pulls, nobody pushes without rights
($ok, $out) = skopeo('copy --dest-tls-verify=false --dest-creds admin:admin',
                     "oci:$src:v1 docker://$reg/public/img:v1");
ok($ok, 'admin publishes public/img') or diag $out;
($ok, $out) = skopeo('copy --src-tls-verify=false --src-no-creds',
                     "docker://$reg/public/img:v1 oci:$tmp/pub:v1");
ok($ok, 'an anonymous pull of public/img') or diag $out;
($ok, $out) = skopeo('copy --dest-tls-verify=false --dest-no-creds',
                     "oci:$src:v1 docker://$reg/public/img:v2");
ok(!$ok, 'an anonymous push to public/img is refused');

# containerd's resolver: with credentials it asks for tokens with the
# OAuth2 POST form (grant_type=password), not with GET
SKIP: {
    skip 'containerd/ctr not installed', 6 unless have('containerd') && have('ctr');

    my $dir = "$tmp/containerd";
    mkdir $dir;
    open my $c, '>', "$dir/config.toml" or die;
    print $c join "\n", 'version = 2', qq{root = "$dir/root"},
        qq{state = "$dir/state"},
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]', '[grpc]',
        qq{  address = "$dir/containerd.sock"}, '';
    close $c;

    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$dir/log"; open STDERR, '>&', \*STDOUT;
        exec 'containerd', '--config', "$dir/config.toml";
    }
    for (1 .. 100) { last if -S "$dir/containerd.sock"; select(undef, undef, undef, 0.05) }

    my $ctr = "ctr --address $dir/containerd.sock";
    my $out = `$ctr images pull --plain-http --snapshotter native --user reader:reader $reg/demo/app:v1 2>&1`;
    is($?, 0, 'ctr pulls demo/app as reader') or diag $out;
    like($out, qr/unpacking linux\/amd64 \Q$digest\E/, 'and unpacks it');
    my $log = do { local (@ARGV, $/) = $t->dir . '/logs/oci.log'; <> };
    like($log, qr{\|POST /token HTTP/1.1\|200$}m, 'its token came from the OAuth2 POST form');

    `$ctr images tag $reg/demo/app:v1 $reg/demo/ctr:v1 2>&1`;
    $out = `$ctr images push --plain-http --user demo:demo $reg/demo/ctr:v1 2>&1`;
    is($?, 0, 'ctr pushes demo/ctr as demo') or diag $out;
    # a new tag: the blobs exist, so only the manifest PUT needs push
    `$ctr images tag $reg/demo/app:v1 $reg/demo/ctr:v2 2>&1`;
    $out = `$ctr images push --plain-http --user reader:reader $reg/demo/ctr:v2 2>&1`;
    isnt($?, 0, 'but not as reader');
    like($out, qr/403|denied/i, 'who is denied') or diag $out;

    kill 'TERM', $pid;
    waitpid $pid, 0;
}

# podman login: GET /v2/, the challenge, a token for no scope, GET /v2/
SKIP: {
    skip 'podman is not installed', 3 unless have('podman');
    my $authfile = "$tmp/auth.json";
    my $out = `podman login --tls-verify=false --authfile $authfile -u demo -p demo $reg 2>&1`;
    is($?, 0, 'podman login with the right password') or diag $out;
    ok(-s $authfile, 'stores the credentials');
    $out = `podman login --tls-verify=false --authfile $tmp/bad.json -u demo -p wrong $reg 2>&1`;
    isnt($?, 0, 'podman login with a wrong password fails');
}

$t->stop;
$t->check_logs;
done_testing();
