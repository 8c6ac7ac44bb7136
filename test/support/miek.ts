// The head of CoreDNS's miek.nl test zones (its plugin/file and plugin/dnssec tests): $TTL, $ORIGIN
// and the apex SOA, which the zones that go on from there share.
export const MIEK_SOA = `
$TTL    30M
$ORIGIN miek.nl.
@       IN      SOA     linode.atoom.net. miek.miek.nl. (
                             1282630057 ; Serial
                             4H         ; Refresh
                             1H         ; Retry
                             7D         ; Expire
                             4H )       ; Negative Cache TTL
`;
