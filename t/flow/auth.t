# Token auth through auth_request: the challenge, the token endpoint and
# its policy, and a verifier that refuses every kind of bad token.  Keys
# are real (openssl genpkey in OciTest::Auth); the forged tokens are
# signed with them or with keys nobody trusts.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use JSON::PP;
use OciTest::Nginx;
use OciTest::Redis;
use OciTest::Registry qw(sha256);
use OciTest::Auth qw(auth_setup auth_config sign_jwt token_for claims_of
                     b64url unb64url);

my $tmp = tempdir(CLEANUP => 1);
mkdir "$tmp/storage";
my $keys = auth_setup("$tmp/auth");
my $redis = OciTest::Redis->start();
my $t = OciTest::Nginx->new();
$t->set(STORAGE => "$tmp/storage", REDIS => $redis->port, AUTH => $keys);
$t->write_config(auth_config(workers => 2));
$t->start;

my $http = $t->http;

sub req {
    my ($method, $path, $token, %o) = @_;
    my %h = %{ $o{headers} // {} };
    $h{Authorization} = "Bearer $token" if defined $token;
    return $http->request($method, $t->url($path),
        { headers => \%h, (defined $o{content} ? (content => $o{content}) : ()) });
}

sub challenge { $_[0]{headers}{'www-authenticate'} // '' }
sub code { my $b = eval { decode_json($_[0]{content}) }; $b ? $b->{errors}[0]{code} : '' }

sub push_blob {
    my ($token, $repo, $bytes) = @_;
    return req('POST', "/v2/$repo/blobs/uploads/?digest=" . sha256($bytes),
               $token, content => $bytes);
}

my $realm = 'http://127.0.0.1:' . $t->port . '/token';

# --- the challenge ----------------------------------------------------

my $r = req('GET', '/v2/');
is($r->{status}, 401, 'GET /v2/ without credentials: 401 (docker login starts here)');
is(challenge($r), qq{Bearer realm="$realm",service="registry.test"},
   'with a Bearer challenge naming the realm and the service');
is(code($r), 'UNAUTHORIZED', 'and the OCI error body');

$r = req('HEAD', '/v2/demo/app/manifests/v1');
is($r->{status}, 401, 'HEAD of a manifest without a token: 401');
is(challenge($r), qq{Bearer realm="$realm",service="registry.test",scope="repository:demo/app:pull"},
   'the challenge asks for pull on the repository');

$r = req('POST', '/v2/demo/app/blobs/uploads/');
like(challenge($r), qr{scope="repository:demo/app:pull,push"}, 'POST: pull,push');
$r = req('DELETE', '/v2/demo/app/manifests/v1');
like(challenge($r), qr{scope="repository:demo/app:delete"}, 'DELETE: delete');
$r = req('GET', '/v2/_catalog');
like(challenge($r), qr{scope="registry:catalog:\*"}, '_catalog: registry:catalog:*');
$r = req('POST', '/v2/demo/app/blobs/uploads/?mount=sha256:' . ('a' x 64) . '&from=other/src');
like(challenge($r), qr{scope="repository:demo/app:pull,push repository:other/src:pull"},
     'a mount also needs pull on its source');
is_deeply(decode_json($r->{content})->{errors}[0]{detail},
    [ { Type => 'repository', Name => 'demo/app', Action => 'pull' },
      { Type => 'repository', Name => 'demo/app', Action => 'push' },
      { Type => 'repository', Name => 'other/src', Action => 'pull' } ],
    'the error detail lists each needed action, as distribution does');

# --- the token endpoint -----------------------------------------------

$r = $http->get($t->url('/token?service=registry.test&scope=repository:demo/app:pull'),
    { headers => { Authorization => 'Basic ' . encode_base64('demo:wrong', '') } });
is($r->{status}, 401, 'a wrong password: 401 from the token endpoint');

my $demo = token_for($t, 'demo', 'repository:demo/app:pull,push');
ok($demo, 'demo gets a token');
my $c = claims_of($demo);
is_deeply($c->{access}, [ { type => 'repository', name => 'demo/app', actions => [qw(pull push)] } ],
          'granting pull and push on demo/app');
is($c->{sub}, 'demo', 'sub is the user');
is($c->{aud}, 'registry.test', 'aud is the service');
is($c->{iss}, 'test-issuer', 'iss is the issuer');
ok($c->{exp} - $c->{iat} == 300, 'valid for 5 minutes');

$r = $http->get($t->url('/token?service=registry.test&scope=repository:demo/app:pull,push'),
    { headers => { Authorization => 'Basic ' . encode_base64('demo:demo', '') } });
my $body = decode_json($r->{content});
is($body->{expires_in}, 300, 'expires_in');
like($body->{issued_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'issued_at in RFC 3339');
is($body->{access_token}, $body->{token}, 'access_token is token');
ok(!exists $body->{refresh_token}, 'no refresh token unless offline access is asked for');
is($r->{headers}{'cache-control'}, 'no-store', 'not cacheable');

$r = $http->get($t->url('/token?service=other.service&scope=repository:demo/app:pull'),
    { headers => { Authorization => 'Basic ' . encode_base64('demo:demo', '') } });
is($r->{status}, 400, 'a token for another service: 400');

# --- a token at work --------------------------------------------------

is(req('GET', '/v2/', $demo)->{status}, 200, 'GET /v2/ with a token: 200');
$r = push_blob($demo, 'demo/app', 'layer-1');
is($r->{status}, 201, 'demo pushes to demo/app');
my $digest = sha256('layer-1');
is(req('GET', "/v2/demo/app/blobs/$digest", $demo)->{content}, 'layer-1', 'and pulls');

my $cfg = '{"architecture":"amd64","os":"linux"}';
push_blob($demo, 'demo/app', $cfg);
my $manifest = encode_json({ schemaVersion => 2,
    mediaType => 'application/vnd.oci.image.manifest.v1+json',
    config => { mediaType => 'application/vnd.oci.image.config.v1+json',
                digest => sha256($cfg), size => length $cfg },
    layers => [ { mediaType => 'application/vnd.oci.image.layer.v1.tar',
                  digest => $digest, size => 7 } ] });
$r = req('PUT', '/v2/demo/app/manifests/v1', $demo, content => $manifest,
         headers => { 'Content-Type' => 'application/vnd.oci.image.manifest.v1+json' });
is($r->{status}, 201, 'and tags a manifest');

# --- what a token does not cover --------------------------------------

my $reader = token_for($t, 'reader', 'repository:demo/app:pull,push,delete');
is_deeply(claims_of($reader)->{access}[0]{actions}, ['pull'],
          'reader asked for pull,push,delete and got pull: the intersection');
is(req('GET', '/v2/demo/app/manifests/v1', $reader,
       headers => { Accept => 'application/vnd.oci.image.manifest.v1+json' })->{status},
   200, 'reader pulls');
$r = push_blob($reader, 'demo/app', 'not allowed');
is($r->{status}, 403, 'reader cannot push: 403');
is(code($r), 'DENIED', 'with DENIED');
$r = req('DELETE', '/v2/demo/app/manifests/v1', $reader);
is($r->{status}, 403, 'reader cannot delete');

$r = req('GET', '/v2/demo/other/tags/list', $demo);
is($r->{status}, 401, 'a token for demo/app cannot read demo/other');
like(challenge($r), qr{scope="repository:demo/other:pull",error="insufficient_scope"},
     'insufficient_scope, naming the scope to ask for');
$r = push_blob($demo, 'team/app', 'x');
is($r->{status}, 401, 'nor push to team/app');

my $secret = token_for($t, 'admin', 'repository:secret/app:pull,push');
push_blob($secret, 'secret/app', 'secret-layer');
my $mounter = token_for($t, 'demo', 'repository:demo/app:pull,push', 'repository:secret/app:pull');
is_deeply(claims_of($mounter)->{access}[1],
          { type => 'repository', name => 'secret/app', actions => [] },
          'demo asked for pull on secret/app and was granted nothing');
$r = req('POST', '/v2/demo/app/blobs/uploads/?mount=' . sha256('secret-layer') . '&from=secret/app', $mounter);
is($r->{status}, 403, 'a mount from a repository demo cannot read is refused');
is(req('HEAD', '/v2/demo/app/blobs/' . sha256('secret-layer'), $demo)->{status}, 404,
   'and nothing was mounted');

my $cat = token_for($t, 'demo', 'registry:catalog:*');
is(req('GET', '/v2/_catalog', $cat)->{status}, 403, 'demo may not list the catalog');
$cat = token_for($t, 'admin', 'registry:catalog:*');
$r = req('GET', '/v2/_catalog', $cat);
is($r->{status}, 200, 'admin may');
like($r->{content}, qr{demo/app}, 'and sees the repositories');

# --- anonymous --------------------------------------------------------

my $anon = token_for($t, undef, 'repository:public/img:pull,push', 'repository:demo/app:pull');
ok($anon, 'a token without credentials (anonymous)');
is_deeply(claims_of($anon)->{access},
    [ { type => 'repository', name => 'public/img', actions => ['pull'] },
      { type => 'repository', name => 'demo/app', actions => [] } ],
    'grants only the public pull');
my $admin = token_for($t, 'admin', 'repository:public/img:pull,push');
is(push_blob($admin, 'public/img', 'public-layer')->{status}, 201, 'admin publishes public/img');
$r = req('GET', '/v2/public/img/blobs/' . sha256('public-layer'));
is($r->{status}, 200, 'public/img pulls without any token');
is($r->{content}, 'public-layer', 'the right bytes');
$r = push_blob(undef, 'public/img', 'anon');
is($r->{status}, 401, 'pushing to public/img still needs a token');
like(challenge($r), qr{scope="repository:public/img:pull,push"}, 'and is challenged for it');
is(push_blob($anon, 'public/img', 'anon')->{status}, 403,
   'an anonymous token cannot push either');

# --- refresh tokens ---------------------------------------------------

$r = $http->get($t->url('/token?service=registry.test&offline_token=true&client_id=docker'),
    { headers => { Authorization => 'Basic ' . encode_base64('demo:demo', '') } });
my $refresh = decode_json($r->{content})->{refresh_token};
ok($refresh, 'offline_token=true (docker login) returns a refresh token');
is(req('GET', '/v2/', $refresh)->{status}, 401, 'a refresh token is not an access token');

sub post_form {
    my (%f) = @_;
    return $http->request('POST', $t->url('/token'), {
        headers => { 'Content-Type' => 'application/x-www-form-urlencoded' },
        content => join('&', map { "$_=" . $f{$_} =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ger } sort keys %f) });
}

$r = post_form(grant_type => 'refresh_token', service => 'registry.test',
               client_id => 'docker', refresh_token => $refresh,
               scope => 'repository:demo/app:pull,push repository:demo/b:pull');
is($r->{status}, 200, 'POST grant_type=refresh_token');
$body = decode_json($r->{content});
is($body->{scope}, 'repository:demo/app:pull,push repository:demo/b:pull', 'with the granted scope');
is(claims_of($body->{access_token})->{sub}, 'demo', 'for the user of the refresh token');
is(push_blob($body->{access_token}, 'demo/app', 'via refresh')->{status}, 201, 'which pushes');
is($body->{refresh_token}, $refresh, 'the refresh token is returned for reuse');

my @p = split /\./, $refresh;
my $rc = claims_of($refresh);
$rc->{sub} = 'admin';
$r = post_form(grant_type => 'refresh_token', service => 'registry.test', client_id => 'x',
               refresh_token => join('.', $p[0], b64url(encode_json($rc)), $p[2]),
               scope => 'repository:demo/app:pull');
is($r->{status}, 401, 'a refresh token whose sub was changed is refused');
$r = post_form(grant_type => 'refresh_token', service => 'registry.test', client_id => 'x',
               refresh_token => $demo, scope => 'repository:demo/app:pull');
is($r->{status}, 401, 'an access token is not a refresh token');

$r = post_form(grant_type => 'password', service => 'registry.test', client_id => 'x',
               username => 'demo', password => 'demo', access_type => 'offline',
               scope => 'repository:demo/app:pull');
is($r->{status}, 200, 'POST grant_type=password');
$body = decode_json($r->{content});
ok($body->{refresh_token}, 'access_type=offline: with a refresh token');
is_deeply(claims_of($body->{access_token})->{access}[0]{actions}, ['pull'], 'granting what was asked');
$r = post_form(grant_type => 'password', service => 'registry.test', client_id => 'x',
               username => 'demo', password => 'nope', scope => 'repository:demo/app:pull');
is($r->{status}, 401, 'a wrong password in the form: 401');
$r = post_form(grant_type => 'client_credentials', service => 'registry.test', client_id => 'x');
is($r->{status}, 400, 'an unknown grant_type: 400');

# --- forged and broken tokens -----------------------------------------

my $now = time;
my %good = (iss => 'test-issuer', sub => 'demo', aud => 'registry.test',
            exp => $now + 300, nbf => $now - 1, iat => $now,
            access => [ { type => 'repository', name => 'demo/app', actions => ['pull'] } ]);
my $es = { alg => 'ES256', kid => claims_kid($demo) };
sub claims_kid { decode_json(unb64url((split /\./, $_[0])[0]))->{kid} }

my $ok = sign_jwt("$keys/ec.key", \%good, header => $es);
is(req('GET', '/v2/demo/app/tags/list', $ok)->{status}, 200, 'a token signed by our key (ES256, PEM)');

my $rs = sign_jwt("$keys/rsa.key", \%good, header => { alg => 'RS256', kid => 'rsa-1' });
is(req('GET', '/v2/demo/app/tags/list', $rs)->{status}, 200, 'RS256 with a key from the JWKS');
my $ed = sign_jwt("$keys/ed.key", \%good, header => { alg => 'EdDSA', kid => 'ed-1' });
is(req('GET', '/v2/demo/app/tags/list', $ed)->{status}, 200, 'EdDSA (Ed25519) from the JWKS');
my $nokid = sign_jwt("$keys/ed.key", \%good, header => { alg => 'EdDSA' });
is(req('GET', '/v2/demo/app/tags/list', $nokid)->{status}, 200,
   'without a kid, the keys of the alg are tried');

is(req('GET', '/v2/demo/app/tags/list',
       sign_jwt("$keys/ec.key", { %good, exp => $now - 30 }, header => $es))->{status},
   200, 'expired 30 s ago: inside the 60 s leeway');

my $ecpub = do { local (@ARGV, $/) = "$keys/ec.pub"; <> };
my %bad = (
    'expired' => sign_jwt("$keys/ec.key", { %good, exp => $now - 120 }, header => $es),
    'without exp' => sign_jwt("$keys/ec.key", { map { $_ => $good{$_} } grep { $_ ne 'exp' } keys %good }, header => $es),
    'not yet valid' => sign_jwt("$keys/ec.key", { %good, nbf => $now + 600 }, header => $es),
    'for another audience' => sign_jwt("$keys/ec.key", { %good, aud => 'other' }, header => $es),
    'from another issuer' => sign_jwt("$keys/ec.key", { %good, iss => 'evil' }, header => $es),
    'signed by an unknown key' => sign_jwt("$keys/other.key", \%good, header => $es),
    'with an unknown kid' => sign_jwt("$keys/ec.key", \%good, header => { alg => 'ES256', kid => 'nope' }),
    'alg none' => sign_jwt(undef, \%good, header => { alg => 'none' }, raw_sig => ''),
    'alg none with a signature' => sign_jwt(undef, \%good, header => { alg => 'none' }, raw_sig => 'x'),
    'HS256 keyed with the public key' => sign_jwt({ hmac => $ecpub }, \%good, header => { alg => 'HS256', kid => $es->{kid} }),
    'RS256 claimed for the EC key' => sign_jwt("$keys/rsa.key", \%good, header => { alg => 'RS256', kid => $es->{kid} }),
    'ES256 claimed for the RSA key' => sign_jwt("$keys/ec.key", \%good, header => { alg => 'ES256', kid => 'rsa-1' }),
    'with a critical extension' => sign_jwt("$keys/ec.key", \%good, header => { %$es, crit => ['exp'] }),
    'garbage' => 'garbage',
    'with base64 padding appended' => "$ok==",
    'with padding and junk in the signature' => "$ok=junk",
    'three dots' => 'a.b.c.d',
    'empty signature' => join('.', (split /\./, $ok)[0, 1], ''),
    'a bad base64 header' => '!!!.' . (split /\./, $ok, 2)[1],
    'a JSON array header' => b64url('[1]') . '.' . (split /\./, $ok, 2)[1],
);
my @p2 = split /\./, $ok;
my %tampered = %good;
$tampered{access} = [ { type => 'repository', name => 'demo/app', actions => [qw(pull push delete)] } ];
$bad{'with a tampered payload'} = join '.', $p2[0], b64url(encode_json(\%tampered)), $p2[2];
my $sig = unb64url($p2[2]);
substr($sig, 10, 1) = chr(ord(substr($sig, 10, 1)) ^ 1);
$bad{'with a tampered signature'} = join '.', @p2[0, 1], b64url($sig);

for my $what (sort keys %bad) {
    $r = req('GET', '/v2/demo/app/tags/list', $bad{$what});
    is($r->{status}, 401, "a token $what: 401");
    like(challenge($r), qr{error="invalid_token"}, "  invalid_token ($what)");
}

my $raw = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port, Timeout => 5) or die;
print $raw "GET /v2/demo/app/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         . "Authorization: Bearer \x01\x02\xff.\x7f.junk\r\n\r\n";
like(scalar(<$raw>) // '', qr{^HTTP/1.1 401}, 'control bytes in the header: 401');
close $raw;
$r = req('GET', '/v2/demo/app/tags/list', undef, headers => { Authorization => 'Basic ' . encode_base64('demo:demo', '') });
is($r->{status}, 401, 'Basic credentials at the registry: 401 with the Bearer challenge');

# --- the verifier never reads the request body ------------------------

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port, Timeout => 5) or die;
print $s "PATCH /v2/demo/app/blobs/uploads/x HTTP/1.1\r\nHost: x\r\n"
       . "Authorization: Bearer garbage\r\nContent-Length: 100000\r\n\r\n";
my $line = <$s>;
like($line // '', qr{^HTTP/1.1 401}, 'a refused upload is answered before its body is sent');
close $s;

# --- variables for the log --------------------------------------------

$t->stop;
my $log = do { local (@ARGV, $/) = $t->dir . '/logs/oci.log'; <> };
like($log, qr{^demo\|repository:demo/app:pull,push\|POST /v2/demo/app/blobs/uploads/}m,
     '$oci_auth_subject and $oci_auth_access reach the access log (auth_request_set)');
like($log, qr{^reader\|repository:demo/app:pull\|POST /v2/demo/app/blobs/uploads/\S+ HTTP/1.1\|403$}m,
     'and show what a refused request was granted');

$t->check_logs;
done_testing();
