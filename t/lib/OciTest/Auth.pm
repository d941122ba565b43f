package OciTest::Auth;

# Token auth for flow tests: real keys made with the openssl command, an
# htpasswd, a policy, the nginx config that wires auth_request, the
# verifier, the error page and the token endpoint together, and a JWT
# signer that can forge any header, claims or signature.

use strict;
use warnings;
use Exporter 'import';
use File::Path qw(make_path);
use JSON::PP;
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(hmac_sha256);

our @EXPORT_OK = qw(auth_setup auth_config b64url unb64url sign_jwt
                    token_for claims_of);

my $json = JSON::PP->new->canonical;

sub b64url { (my $s = encode_base64($_[0], '')) =~ tr{+/}{-_}; $s =~ s/=+$//; $s }
sub unb64url { (my $s = $_[0]) =~ tr{-_}{+/}; $s .= '=' x (-length($s) % 4); decode_base64($s) }

sub _run {
    my (@cmd) = @_;
    my $out = `@cmd 2>&1`;
    die "command failed ($?): @cmd\n$out" if $?;
    return $out;
}

sub _write {
    my ($path, $data) = @_;
    open my $f, '>', $path or die "$path: $!";
    binmode $f;
    print $f $data;
    close $f;
}

# Keys in $dir: ec (ES256, the token endpoint's signing key), rsa and ed
# (verified through a JWKS), other (an EC key nobody trusts); users
# demo/demo (push demo/*), reader/reader (pull demo/*), admin/admin (all).
sub auth_setup {
    my ($dir) = @_;
    make_path($dir);
    _run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $dir/ec.key");
    _run("openssl pkey -in $dir/ec.key -pubout -out $dir/ec.pub");
    _run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $dir/rsa.key");
    _run("openssl genpkey -algorithm ED25519 -out $dir/ed.key");
    _run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $dir/other.key");

    # the JWKS: public parameters pulled out of openssl's text dumps
    my $rsa = _run("openssl pkey -in $dir/rsa.key -pubout -text_pub -noout");
    my ($mod) = $rsa =~ /Modulus:\s*\n((?:\s+[0-9a-f:]+\n)+)/;
    $mod =~ s/[\s:]//g;
    $mod =~ s/^00//;
    my $ed = _run("openssl pkey -in $dir/ed.key -pubout -outform DER");
    my $jwks = { keys => [
        { kty => 'RSA', kid => 'rsa-1', use => 'sig', alg => 'RS256',
          n => b64url(pack('H*', $mod)), e => b64url("\x01\x00\x01") },
        { kty => 'OKP', crv => 'Ed25519', kid => 'ed-1',
          x => b64url(substr($ed, -32)) },
    ] };
    _write("$dir/jwks.json", $json->encode($jwks));

    my $h = '';
    for my $u (qw(demo reader admin)) {
        my $hash = _run("openssl passwd -apr1 $u");
        chomp $hash;
        $h .= "$u:$hash\n";
    }
    _write("$dir/htpasswd", $h);

    _write("$dir/policy.conf", <<'POLICY');
# who            resource            actions
group  readers   u01 u02 u03 u04 u05 u06 u07 u08 u09 u10 u11 u12 u13 u14 u15 u16 reader
allow  user:demo        demo/*            pull,push
allow  group:readers    demo/*            pull
allow  user:admin       *                 *
allow  user:admin       registry:catalog  *
allow  anonymous        public/*          pull
POLICY
    return $dir;
}

# the registry with token auth; %%AUTH%% is the dir of auth_setup
sub auth_config {
    my (%o) = @_;
    my $extra = $o{extra} // '';
    my $server_extra = $o{server_extra} // '';
    my $workers = $o{workers} // 1;
    # the Redis, as in OciTest::Registry::registry_config: the test's own,
    # or with OCI_TEST_CLUSTER the shared cluster under a prefix of its
    # own (private => 1: the test's own regardless)
    my $redis = "oci_registry_redis 127.0.0.1:%%REDIS%%;";
    if ($ENV{OCI_TEST_CLUSTER} && !$o{private}) {
        $redis = "oci_registry_redis $ENV{OCI_TEST_CLUSTER};\n"
               . "            oci_registry_key_prefix t$$:;";
    }
    return <<"EOF";
%%GLOBALS%%
master_process on;
worker_processes $workers;
events { worker_connections 256; }
http {
    %%HTTP_GLOBALS%%
    map \$http_authorization \$oci_token_auth {
        ""      off;
        default "registry";
    }
    log_format oci '\$oci_user|\$oci_access|\$request|\$status';

    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 0;
        client_body_buffer_size 64k;
        # at server level: refused requests end in \@oci_denied
        access_log %%TESTDIR%%/logs/oci.log oci;

        oci_registry_auth_realm http://127.0.0.1:%%PORT%%/token;
        oci_registry_auth_service registry.test;
        oci_registry_auth_issuer test-issuer;
        $server_extra

        location /v2/ {
            auth_request /_oci_auth;
            auth_request_set \$oci_user \$oci_auth_subject;
            auth_request_set \$oci_access \$oci_auth_access;
            error_page 401 403 \@oci_denied;

            oci_registry;
            oci_registry_storage %%STORAGE%%;
            $redis
            oci_registry_thread_pool default;
        }

        location = /_oci_auth {
            internal;
            oci_registry_auth_verify;
            oci_registry_auth_key %%AUTH%%/ec.pub;
            oci_registry_auth_jwks %%AUTH%%/jwks.json;
            oci_registry_auth_anonymous_pull public/*;
            $extra
        }

        location \@oci_denied {
            oci_registry_auth_error;
        }

        location = /token {
            auth_basic \$oci_token_auth;
            auth_basic_user_file %%AUTH%%/htpasswd;
            oci_registry_auth_token;
            oci_registry_auth_user \$remote_user;
            oci_registry_auth_signing_key %%AUTH%%/ec.key;
            oci_registry_auth_policy %%AUTH%%/policy.conf;
            oci_registry_auth_passwd %%AUTH%%/htpasswd;
        }
    }
}
EOF
}

# A compact JWS.  $key: a PEM private key file (its type picks how to
# sign), or { hmac => $secret }; %o: header => {...} overrides,
# raw_sig => bytes (used as is).
sub sign_jwt {
    my ($key, $claims, %o) = @_;
    my $hdr = { typ => 'JWT', %{ $o{header} // {} } };
    my $input = b64url($json->encode($hdr)) . '.'
              . b64url(ref $claims ? $json->encode($claims) : $claims);
    my $sig;
    if (exists $o{raw_sig}) {
        $sig = $o{raw_sig};
    } elsif (ref $key eq 'HASH') {
        $sig = hmac_sha256($input, $key->{hmac});
    } else {
        my $tmp = "$key.input.$$";
        _write($tmp, $input);
        my $alg = $hdr->{alg} // '';
        if ($alg eq 'EdDSA') {
            $sig = _run("openssl pkeyutl -sign -inkey $key -rawin -in $tmp");
        } else {
            $sig = _run("openssl dgst -sha256 -sign $key $tmp");
            $sig = _der_to_raw($sig) if $alg eq 'ES256';
        }
        unlink $tmp;
    }
    return $input . '.' . b64url($sig);
}

# ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } to r || s
sub _der_to_raw {
    my ($der) = @_;
    my @b = unpack('C*', $der);
    my $i = 2;
    $i++ if $b[1] & 0x80;
    my @out;
    for (1 .. 2) {
        die 'bad DER' unless $b[$i] == 0x02;
        my $len = $b[$i + 1];
        my $int = pack('C*', @b[$i + 2 .. $i + 1 + $len]);
        $int =~ s/^\x00+//;
        push @out, ("\x00" x (32 - length $int)) . $int;
        $i += 2 + $len;
    }
    return join '', @out;
}

# a token from the endpoint, as docker asks for it (GET, Basic creds;
# the password of the test users is their name)
sub token_for {
    my ($t, $user, @scopes) = @_;
    my $q = join '&', 'service=registry.test',
                      map { "scope=$_" } @scopes;
    my %h;
    $h{Authorization} = 'Basic ' . encode_base64("$user:$user", '')
        if defined $user;
    my $r = $t->http->get($t->url("/token?$q"), { headers => \%h });
    return undef unless $r->{status} == 200;
    return decode_json($r->{content})->{token};
}

sub claims_of { decode_json(unb64url((split /\./, $_[0])[1])) }

1;
