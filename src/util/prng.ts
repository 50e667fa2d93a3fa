/**
 * This file defines a small deterministic pseudo-random generator (sfc32) seeded from a string, for
 * the workflow builtins `random` and `uuid`: the same seed gives the same sequence on every machine
 * and in every replay. Not for cryptography. It also defines GoRand, Go's math/rand seeded source,
 * which `random.seed(n)` switches a workflow to, so seeded sequences match the Uniflow Go worker.
 */
import { createHash } from 'node:crypto';

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12) | 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The next 32 random bits. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** An integer in [lo, hi] inclusive (hi - lo < 2^53). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.nextUint32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Go's math/rand seeded source, for Uniflow compatibility

/**
 * The additive lagged Fibonacci generator behind Go's `rand.NewSource(seed)` (math/rand, not v2):
 * x[n] = x[n-607] + x[n-273] mod 2^64, whose 607 words of state are seeded from a Lehmer generator
 * (x' = 48271·x mod 2^31-1) XORed with a fixed table of "cooked" words. Workflows that call
 * `random.seed(n)` get the sequence the Go worker gives for the same seed: `seed(1234)` then
 * `randint(0, 100)` (`0 + Intn(101)`) is 18.
 *
 * The table below is data, not code: it was derived by observation, from the first 607 `Uint64()`
 * outputs of Go 1.19's `rand.New(rand.NewSource(1))` (each output is one state word plus an earlier
 * one, so the seeded state solves out of them; XORing off the Lehmer words of seed 1 leaves the
 * table). tests/engine/worker-compat.test.ts pins sequences of several seeds against Go's output.
 */
export class GoRand {
  private readonly vec = new BigUint64Array(GO_LEN);
  private tap = 0;
  private feed = GO_LEN - GO_TAP;

  /** `rand.NewSource(seed)`; `seed` is an int64. */
  constructor(seed: bigint) {
    let s = Number(BigInt.asIntN(64, seed) % GO_INT32_MAX_N);
    if (s < 0) s += Number(GO_INT32_MAX_N);
    if (s === 0) s = 89482311;
    let x = s;
    const cooked = goCooked();
    for (let i = -20; i < GO_LEN; i++) {
      x = goSeedrand(x);
      if (i >= 0) {
        let u = BigInt(x) << 40n;
        x = goSeedrand(x);
        u ^= BigInt(x) << 20n;
        x = goSeedrand(x);
        u ^= BigInt(x);
        this.vec[i] = u ^ cooked[i]!;
      }
    }
  }

  /** `Uint64()`: the next 64 bits. */
  uint64(): bigint {
    if (--this.tap < 0) this.tap += GO_LEN;
    if (--this.feed < 0) this.feed += GO_LEN;
    const x = this.vec[this.feed]! + this.vec[this.tap]!;
    this.vec[this.feed] = x; // stored mod 2^64
    return BigInt.asUintN(64, x);
  }

  /** `Int63()`: a non-negative 63-bit integer. */
  int63(): bigint {
    return this.uint64() & GO_MASK63;
  }

  /** `Int31()`: a non-negative 31-bit integer (the top bits of Int63). */
  int31(): number {
    return Number(this.int63() >> 32n);
  }

  /** `Int31n(n)`, 0 < n < 2^31: uniform in [0, n), by rejection as Go does. */
  int31n(n: number): number {
    if ((n & (n - 1)) === 0) return this.int31() & (n - 1);
    const max = 2147483647 - (2147483648 % n);
    let v = this.int31();
    while (v > max) v = this.int31();
    return v % n;
  }

  /** `Int63n(n)`, 0 < n < 2^63: uniform in [0, n). */
  int63n(n: bigint): bigint {
    if ((n & (n - 1n)) === 0n) return this.int63() & (n - 1n);
    const max = GO_MASK63 - ((GO_MASK63 + 1n) % n);
    let v = this.int63();
    while (v > max) v = this.int63();
    return v % n;
  }

  /** `Intn(n)`, n > 0: Int31n below 2^31, Int63n above. */
  intn(n: bigint): bigint {
    if (n <= 0n) throw new RangeError('invalid argument to Intn');
    return n <= 2147483647n ? BigInt(this.int31n(Number(n))) : this.int63n(n);
  }

  /** `Float64()`: Int63 / 2^63, never 1. */
  float64(): number {
    for (;;) {
      const f = Number(this.int63()) / 9223372036854775808;
      if (f !== 1) return f;
    }
  }
}

const GO_LEN = 607;
const GO_TAP = 273;
const GO_INT32_MAX_N = 2147483647n;
const GO_MASK63 = (1n << 63n) - 1n;

/** x' = 48271·x mod (2^31 - 1), exact in doubles (48271·2^31 < 2^53). */
function goSeedrand(x: number): number {
  return (x * 48271) % 2147483647;
}

let cookedWords: BigUint64Array | undefined;

function goCooked(): BigUint64Array {
  if (!cookedWords) cookedWords = BigUint64Array.from(GO_COOKED_HEX, (h) => BigInt('0x' + h));
  return cookedWords;
}

/** The 607 cooked words of Go's source, as unsigned 64-bit hex (see GoRand). */
// prettier-ignore
const GO_COOKED_HEX: readonly string[] = [
  'c5f74a33eb98ffea', 'c07b4a41ba965f5b', '135ec513cb81af0f', '4a04fb5ca74395eb',
  'a7e8831c7710cf8e', '7d5de4e88f37c1c3', '6321cf7743ff85a9', '42cb06556a9ff961',
  '6e26c8d140e8d7d2', '49a7511f3411faa0', '71ed774922a65055', '9d5c9fc65fea2d5c',
  '3fbdab394a014368', '70fa33596992340b', 'ae10fb4ecea66a02', 'f79fbca98bbcd18a',
  '97f7ccb12ea380ac', '0191d794caf32b1b', '3f6a323424e32caf', 'c642cc921f01142b',
  'a122869f4ff38068', 'a5b1a31127af3920', '5b07a4f9bdc29d96', '6a2a973c29812586',
  '6aa433dbf77a52e1', '8394216e3b8ac99e', 'db80a9c5515b997c', '03c3f2eff3cbf769',
  'a6b5e431eeff210c', '0ec85334992953f5', '2e6a1432df10d1e9', 'bde4629959d1b149',
  '67994c3876387951', '0e15d461559bae63', 'bdbf96c4e9d2a077', 'b04f62866ada20f3',
  '2190da1646db97bf', '5071873c1832957a', '3e3b503a19da904b', '33e388a5f2c78528',
  'bec70bac19d0e877', '00256970f81bf072', 'f7d18a14f64fa886', 'a46ef978b4d4734c',
  '782ff1573127a78e', '00241b0ad59beba6', 'dac549591fe95b2f', '6195faf2884c2d39',
  '569c2bbdb0ef345d', '0b8b6039508ce21e', 'ef1576705435d2bb', '1d5e900af5f1d8f7',
  '1e902d187d7fd437', '7f227b7c8fe0eb79', '38790e6201ebbb98', '44818eac7922e171',
  '0658d6c550dad340', '84bfb894cc72969a', 'a7855141e3b329bd', '9cb31556b1bae746',
  '3ca09004f9686f49', '0c50146d7e508769', 'cd35d8ff935ac970', 'de9818b4aa1554d8',
  '4df37efd6433daa0', 'f591e9ad05b2e056', '1767eb0bdbf83e29', 'b8247292535299f2',
  'bae645975a5e4ceb', 'ecea78155c3bc32b', '4e295e5357ace86e', '8b906a9a4fadbb08',
  'fd50086af64463c9', 'ad0385acfd19d6fc', 'bbe6d4a5e1d13a9f', 'fc099f33b79b039c',
  'd9782224840c5a35', '174e38bc45d51acf', '53f82f9f54de4e3e', 'e10dfa0a87b3ef0e',
  'ea09d9ec7b439769', '519ec3c7cc4c5011', '0b47990fc413e3d5', '3f07e07ecfce5be2',
  'a5d2d0b8b71922be', '451eea1fc87cc761', 'c8505edef7f1d6dd', 'fb6ed78e001ce905',
  'd7cc0a3644f468ba', '14c231db2e4429d0', 'e21ccd9a90943dd3', '664869f5288fc2d1',
  'ddc56f604e168fb5', '4151e4abb0b1faf6', 'ec9647e8cea7b927', '76a742187dbe61de',
  '80778d4049780e3c', '92714446c26ce413', '65475bc019e7700b', '0e08781d60d86d17',
  '9f0f0fe9d5f571e0', '476e62bf33886e57', '8c710cff524eb4e6', '24e856a59e3899a5',
  '549f7c8b5783189a', '9808539c06020014', 'b8fc59eeb2515467', 'f38fff8b8499a614',
  'f5a62be73a3d5222', '508b82832b4c4838', 'f5109fc7682ff8de', 'd31cadf15cc53f0c',
  'c1720509406b5826', 'e900715210bc96fa', '0704fe3536d393fb', 'c65c9b6eccaefb4a',
  '8bafc73092be4019', '07f0b599d77889ea', '18de0a49b8fa589b', '2f174e71c9830ff0',
  'b470b780a26785dd', '20a6b76123b162be', '91efbd24cdc58322', 'fb7bb75026b32623',
  'd03d1caf9a1f04d0', 'a5f0f909bcaee921', '46aa7ced9d1c8e0b', 'fcd8a79e7a62b6f9',
  '3ac4cf05bce83f14', '45c579a008a037c4', '4053888e527912d0', 'f88fa0b2289f7b17',
  '51fbaf5d2002bdda', '8ae403a812ca4784', '0d7ea237329fa450', 'cb3f04bf02b6f208',
  'c796643e8a39ed33', 'fd92d79ed75b6419', '216821c8b258e8ac', 'e93d3aff7b46e931',
  '36b0858cfcb72b6a', 'ae5e3c9fe7ff1167', '2af4c395391cc2a5', 'e6c4fd076feb7676',
  '50efb5fb31ede773', '6d7f243359dbfcae', '7193e740340e0fdb', '8ff51f73a4c6dd92',
  '94534b6efa1ca966', 'c06a724520d70d41', '30cd16bd19120592', '8d456b580c2cd6dc',
  '5c62bc0d6a8429ef', '48744ea9b8e9395e', '18ef14825c84aee1', '4a1e32b73a71e234',
  '0fee6f27c45228c0', '464e2e3be0d2e4a1', '23bb67f482e16008', '0f11b541e8247327',
  'ae7df90c7d2aafd7', '54e1f496142c391a', '1d400ef625fa4274', '9906966610ce9e13',
  '22455934d7c1ccda', 'e6414239b7da9220', 'b49f9091f6275556', '82916b3d64288abd',
  '9f52d0a1c7066fa0', '642a666cfb8cf0a1', '8c9d981db063ad83', '63dfa26158b67e4a',
  'ce3cfe36ebecc2df', 'b6e4eb2ba55364ff', '6fd2179e0d7717d1', 'b971a2b7362247db',
  'dbe5cf25d510c53b', '930f28ad73735261', '5a95dd01047feb8b', '30adb1407358b45a',
  '7fb44776784c1083', '1b20e8f4eb075406', 'dc275f40b6c7c0d9', '732df8dda67b0f27',
  'b62637afc484c885', '61c98649838bf631', 'df061fee30277f58', '95d322052dac1455',
  '7ad30486e478aee9', '3267221f4aced145', '479807052c3566b8', 'a8025350a77ea0b9',
  '421a7ec2fc169cd3', '57273ab05129a700', 'bae4f7fb719f43f2', '1c5bd857e8b8bf48',
  'dad594186971f359', '3f518aad9c427014', '4c43c3b8cc8e8218', '981fba566f92dfb7',
  '07acaac55435c0ac', '5fb0881038cbbc8f', 'f243b5556cbeba73', '63149f303be79fd4',
  'f6aade431f712475', '4cd2a557b6cbc24b', '21bc6975c169de72', 'caf78cf40c768134',
  'f13cdd624a12159f', 'd573d0041b390d3e', '69ea8bd93bade806', '578baf3d78cd61f2',
  '3318a93a7f689dc9', '2da7501cbdbe5235', '5b6d448c9bb11200', '036566ca66f231b4',
  'b89e51e9e2b737e4', '704687541c9b68cf', '28df28a35d2937c9', '8bfeb2756944b0b5',
  '29c24143c2234e9c', 'f4fd794f8d02068f', '0590f068df15e57d', 'e4ad98adab8dc009',
  '4155b1828194a406', 'ce463027d4ff743f', 'd306231168ec0845', 'ae01984986c0c339',
  'cc61983656980e5a', 'b6b4b212af3d051a', '70aaf14a706ce17a', '3547cbc995de3a40',
  '6202b8d9e9e8565f', '8a49ea181ddbac34', '53a7bcb92853ce41', 'a2aa132546a16f3a',
  'd6c166634bc92862', '92ff6acebc93a071', '7a403280a96cea51', '5a183b8f81665a24',
  '222b4c80d2c0e464', '859e3d4d58ba3aa6', 'b9a28389cb2fe563', '83a20cb89512fee4',
  'cbd691b061b30cbd', '8839baf8f3ac9f09', '5ddf03b3edd1c4b8', 'f62694c4cb82ed09',
  'd0c603b9879bd360', '8558daf780426657', 'c87fdb1b629e32ab', 'd77938d516862fe1',
  'e33a56962759ec00', '051bc82f174b90d9', 'ab3b5debcad25c86', 'a8766bd0dd9b35db',
  '425f26b683ca1487', '5d3c2b40a076f653', '7464e98a72f8d634', '2f02dd3eea4e7841',
  '40977fe842527877', 'fbf01ad4922b1d62', 'ca959c2a8b4eea29', '69ca7ca110533802',
  '6b36496357247bd9', '7f7c07645ca7b232', 'b8c63fa50ae3677b', 'a0b7fd74703947d8',
  '231fb1a0dc8ce079', '16b63342b7c96e77', 'cd39a909d7e68027', '1427685b19caecdd',
  '9c9c6cd28e91b74d', '91c1fb790e0d3a54', '7e67d3bdb81bb611', 'd396fc0d89f6e211',
  '457eacfbb049eb22', '1de1979bf5654dd5', '5d436ca7585d28ca', 'd3d7e2863218d979',
  '2fa7be3ccf9d1645', '1fb7a7e17b9eccb0', '2b2b1fced929c282', 'd85a90375e64310d',
  'cb336a1611227dbd', '636925f5baf870cd', '43e0d0254b84715e', '080ec57577219247',
  '175ee40f58fbd971', '3d78cc365badbce1', '8495a07683903295', '8f89c0d3396a3b53',
  '639ba81c88d888a6', '3faf8d9c775ca781', 'eac40d3f519d2893', '01fe31d8c7df7dc4',
  '036d8003387dd6db', '8c0621f768220a97', '59d6a8cc7a082707', '2aea572af8467560',
  '1c910136c9fdf9c3', 'c73eddfe111385e2', '79edb9a2a6a387df', 'd556d17adcc5f6fb',
  'f72709f96b28a3c7', '552d69f0428dce6a', '9cbbb4be9a92c216', '4f37aef6caf41c5d',
  'd3431110cdd7a998', '3c7c1de5b3cc1dca', '048311a7625eabd9', '5ee41cb40ca81e2c',
  '43385b68e51dbffc', 'd36a1f70d4f9a2ff', 'caeaccb927b0cb5c', '3fddae4163e010e4',
  '0e7f5452a8c91ee0', '7e61315458970ccb', '8b821c0b10054c75', 'c444cf11f9840608',
  '2536b7a7602f6b4d', '331786d5a126f97f', 'c9a9cd708372db93', 'd7e75a07542451da',
  'a4e5a10d28659104', '9024ebcbf8b8e6af', '08137c3380f32523', '32a31118a95e425f',
  'bd640b6140802b1e', '967e3cd0f12b1c5f', '031089e87fbab9a7', 'f11bfbb3ba3e0841',
  '3b7fc3ad0d1cd36b', 'bfb2f4d968b759c3', '4c8475564905d202', 'e0a80b2a6236fa83',
  '86a5b8671a833ae3', '79608828eb8fe58d', '032bcb9f5721e717', '12d224e5dc7e16de',
  '29e68b8251e0d495', '2bc04a7508cb08a3', '85f835a648329d25', '4d2799f797ec19a8',
  '443aadc076f2ed10', '89357de277e46717', 'af7907aeb63c9d6c', '27ce6be004db5b35',
  '9bbf0228d95bf1d8', 'ae31e17b25e1b363', '23e9429e957db925', '950e5fab3c7e6825',
  '2aea3671bf9f5933', 'b2d2ef433932102c', '0d7ed21ec77fc8c1', 'ea5f1280f48e6247',
  '17b747cdf311ae42', 'e001060ea9fa838e', 'aca7508c5bccfc84', 'a3aaa0843f04f963',
  'f949f7a4e8ebd3a5', '22876bdefd41df6c', 'c124724f07e69e7c', 'bf470df23d5aa6b4',
  '2998352099f590b8', '11cc90f45895653d', '03550da1ab28f8d1', '7842cc5c2b1b34db',
  '08b79b3694ac8400', 'bf72d50b84f96e2c', '947079f8eb08f590', '696cb72182050872',
  'd4885bc9ac36d5a7', '6cb888b579fe97e1', '629482105204e4fd', '3cef790816b93701',
  'bda77a26be136556', 'fb8f861314dda828', '08a2b7b803ae5bcf', 'd3c8a91ed0323140',
  '870001a0b867ec3e', 'e4f6c1f9b093dde5', '8e086becbc0b8378', '9e755197c06ffcc7',
  '246705ee34f204f8', 'c7927582d516264c', 'b3e17ba47546133c', 'a33f111b5caab4e2',
  'a23d8e161443255e', '48f128b344d0819c', '6cd122fb39ab204d', '5c2910bf238f36aa',
  '90aeac10e05f9bba', '9d54b6b00fe42aca', 'e88f64387a0fcdcb', 'c45a205f01473609',
  'c768ed8eb6b8c82d', 'f225920d43fd23ac', '25bdad5a8a817964', '7ebc9cefb9015aab',
  '3c1ee78fa4ea733d', 'e30e85d1757922a4', '61123dc5e081fe21', 'dc86c11079674e66',
  '8918973fb91ab9fb', '00d4ee55ca6d8c2a', 'd500476d5215b5b5', 'fc5068b3e2ea6d2a',
  '205da910dd23cb85', '979b5e11369f775b', '2bc872747d65ead7', '96ba83aa2ac19de7',
  'a2258710d3a06bd5', '02bcfbd9169343e7', '88eecd99246b6273', '234b301b2d3c0302',
  '3c61095d0931ecbf', 'c1fbeae253e44498', '9bf8d56e39d28810', 'ef025e3275852770',
  '3b81d83bc6a5b26d', '740e3af17358a76b', '5a0491610c217837', 'b234c04ee9707bba',
  'e8d67481cf12c324', '3dc1a80712de14df', '9646cd056265e405', 'c9ed5b85fe5de223',
  'c034e6309514ca00', 'a55cb1a9ea35e9bd', '83585dac1418cf4c', 'c6bfe6b67ae71dfa',
  'edde6a8095841598', '8c478074a66108d3', '49f4fb28492601c4', '6c1f1e9a65e7acb8',
  '44c3f220e0a3a35f', 'c4422797ac160d7e', 'a9bed55a11ad2c15', '29bdbe2cde52ac8d',
  'a2486ed01638fb0c', '7be91fdd8fa25058', '6d06c94a2118cf50', 'be19f2b9fcb649e5',
  '6da310d0ddefe702', '9db4d6197fe76870', 'a1a8e96dd484eb63', 'a2803dfd82f85916',
  '3a1a0a44d7644c46', '1a25188bb552aa62', 'fa3eab18c620bd11', '33d24f4edd10ea99',
  '386d39256536cc6c', '607e759efb2ba1e8', '921ebb3d7c6c6071', '96ba6b088f86692f',
  'b2bd2aeaeafed279', 'b70cc2def3ab10ac', '2b1c1284b0b6db2b', 'd7d4c4db5bbdff92',
  '3f5b8190a0a0241e', '1b79f6457e60cfae', 'a05c318c94181e91', '3480a671b033e3d5',
  '7579955efbbaa755', '2777c9f6d0c6b0d7', '2a0f21c2f6662c43', 'c286b4bc45869bbc',
  '3de266b1c86ed249', '0596478ee80942c5', '6fd3618b2ee6ae1b', '3f08073a3e5dea77',
  '0e7847d01d6e71af', 'cd1f81afc4fbaafe', '24be71c60778c940', '1dc2b6df046a9621',
  'd0944e93950f6ccf', 'e2c767041ea34007', '521bf9c9206576c6', '866b7a2bd7715e51',
  '7a97753c8c793641', '52daac19784a65e4', '07d3110b7c73f7eb', 'a66b273fbcc429b7',
  '16302dc85a75540a', 'c840d3700a56e4de', 'd6875303fcd05bff', 'abbeed06a5e32588',
  '758a6526f8636a3a', '01be7adae8e62038', 'c9b4bec75bc4f40a', 'dc7a69ce0a9fc1c3',
  'f93f853c0adbaa64', 'be48b8658e39d5b6', '5233cc88f307cb85', '81f48c566746e404',
  'e6e72b2f3e111192', '6ee3ad5d7b4333d5', '3bebf80abf44e35e', '324f3dfa2996372c',
  'a60900d584d3294f', 'cfb39707d3e017c8', 'd33cd1090a56f237', 'fae17ac7e5605d43',
  'c8c0106f0ead4419', '89bba8037b2a60be', '6999983c12a6557d', '29ecb289d4fc6351',
  'dc4e3ec308888d22', '2492188c7c1156a7', '476502781cf85a10', '8e5d5db3b1c10b44',
  '15bff6623ba91eb7', '716a28bba3f09c65', 'd7f47607c92f30f1', '9e04907834879dad',
  'a611c59795db7099', '9a74c74315758aa3', '536d4c40116f3239', '52539ac587ad97d0',
  '1f1a1675f28959c3', '8c6d78f5619e8324', '2af1cfe563eff7ad', '3f9d2212e5c94b1d',
  '7e023d467b37b61f', 'faab76adabeee96b', 'cff95dd9926b62d1', '3aa278a62172db76',
  '9982abe519c8c867', '34c2118df1f5857e', 'fa7376b640136c80', '98a7d04ca29ade2f',
  '6d9f14b04d77e77e', '4b3dad048bed47a1', '4c9ee5e4931d3231', 'baf4eba543f33d0a',
  '793aafa07373d926', '986ea60fe6b39a32', 'e31f344f666361e6', 'f21cbedc44c049cb',
  'c4f752a0eb5e5403', 'af1b99e27d410520', '592740a0e5b8c3dd', '04fc4ea5fb446c97',
  'ad6e587f47afe7a6', 'de542c137b8384a4', '2a0ffc0f7b301e5c', '820547300a5d8af4',
  'd3c639c2087dc079', '0a467ca8709a2bb6', 'e242bb6bb4da36de', '6079b0531ec90376',
  '058ccf98dc1843f7', '8417b417b011aec1', 'ecdedd4ff0dd641b', '8c3787282349e832',
  'd5f0bb8816e7e8fb', '85b650480fd8c2f4', '7d45aa734f760b6d', '5962428553d20814',
  '400e2ba01968e7c4', '077e19b9a3f76000', '1d17558f6164030c', '79753148c0e6c59f',
  '9a77d2f2ef3bd843', '666eb88d8701e16f', '5572e7ce34288668', 'eb8d82b15491d607',
  '77c265a71aebbe54', '4947dddd6f3e9e07', '628dfe635c795586', '22673e39d43ff99b',
  '637e086dc78cf522', 'ee37e3669f7e9c66', '92d7bb47a4afe838', '1f9eabdfdbe2b7bd',
  '324fca6af2b5c1d1', '59e4a152525b1b29', '7c91d10a8d75740e', 'cc7c533a7fca95d8',
  '1266fbf77386b1db', '689a66ba46d1c3bd', '4bd671b124b5701a', '2c43fd0a9eaec04d',
  '58143117e4e16555', '8358c5bb1248ac23', 'aaf677bd80e30ac5', 'fc997227a4f07f8f',
  'a848cc5d9cb0e150', '640a711eb0e49b41', '64fcbfa01dca3978', '980aab2fff6bc784',
  '395c6750aa42e65e', '287fea4c9695f3f4', '9516361749f6428a', 'c977d592999f2194',
  'c45166d9f6935ff8', 'a7f503a28f431ca9', '51d3a3c351be10ec', 'f579e080162896e9',
  'e5b5e9385b202824', 'fbba1e4a59b0c60c', 'a8de655829aab207', 'e1de048dc78b382e',
  '74535a96cc7adfd7', '7e57a19b735ef03b', '39a00a3a31c025c6',
];
